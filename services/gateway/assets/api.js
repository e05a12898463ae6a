// The HTTP API as the dashboard uses it. Every failure becomes an ApiError
// carrying the server's `{error, message}` (or `network` when the gateway
// could not be reached at all), so pages can tell "not found" from "down".

import { apiQuery } from './list_filters.js';
import { testsApiPath } from './test_history.js';
import { boardApiPath } from './boards.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  get isNetwork() { return this.status === 0; }
  get isNotFound() { return this.status === 404; }
}

async function request(path, { method = 'GET', body, signal } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      signal,
      cache: 'no-store',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'cannot reach the TestArena gateway');
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!response.ok) {
    throw new ApiError(
      response.status,
      data?.error ?? `http_${response.status}`,
      data?.message ?? (text || response.statusText || `HTTP ${response.status}`),
    );
  }
  return data;
}

export { STATUSES } from './list_filters.js';
export const TERMINAL = new Set(['Finished', 'Error', 'Cancelled']);

const queuePath = (id) => `/api/queue/${encodeURIComponent(id)}`;

/** One page of the list; `filters` as list_filters.js reads them from the URL. */
export function listQueues(filters, perPage, signal) {
  return request(`/api/queues?${apiQuery(filters, perPage)}`, { signal });
}

export const getEvents = (id, signal) => request(eventsUrl(id), { signal });

export const getQueue = (id, signal) => request(queuePath(id), { signal });
export const cancelQueue = (id) => request(`${queuePath(id)}/cancel`, { method: 'POST' });
export const deleteQueue = (id) => request(queuePath(id), { method: 'DELETE' });
/** A new queue at this one's commit: `{tasks?, failed_only?}`; answers its view (or `{id, seq}`). */
export const rerunQueue = (id, body = {}) => request(`${queuePath(id)}/rerun`, { method: 'POST', body });
export const rawLogUrl = (id) => `${queuePath(id)}/log`;
/** Lines `from` (from 1) on of the stored log, each with its number: {lines, total_lines}. */
export const logLines = (id, from, limit) =>
  request(`${queuePath(id)}/log/lines?${new URLSearchParams({ from_line: from, limit })}`);
/** The whole stored log searched for `q` (a text in any case, or a regex): {hits, matches, total_lines}. */
export const searchLog = (id, q, regex = false) =>
  request(`${queuePath(id)}/log/search?${new URLSearchParams({ q, regex })}`);
export const eventsUrl = (id) => `${queuePath(id)}/events`;
// `after`: the id of the last `log` event shown, so a new stream resumes
// right after it instead of replaying the whole log.
export const logStreamUrl = (id, after = null) => (after === null
  ? `${queuePath(id)}/log/stream`
  : `${queuePath(id)}/log/stream?last_event_id=${encodeURIComponent(after)}`);
export const queueHref = (id) => `#/queue/${encodeURIComponent(id)}`;

const workerPath = (id) => `/api/workers/${encodeURIComponent(id)}`;
export const listWorkers = (signal) => request('/api/workers', { signal });
export const drainWorker = (id) => request(`${workerPath(id)}/drain`, { method: 'POST' });
export const readmitProfile = (id, profile) =>
  request(`${workerPath(id)}/readmit?profile=${encodeURIComponent(profile)}`, { method: 'POST' });
/** The Tests page's list; `filters` as test_history.js reads them from the URL. */
export const listTests = (filters, signal) => request(testsApiPath(filters), { signal });

/** One test's runs, newest first; null when none is recorded. */
export async function testHistory({ repo, profile, task, case: name }, signal) {
  const query = new URLSearchParams({ repo, task });
  if (profile) query.set('profile', profile);
  if (name) query.set('case', name);
  try {
    return await request(`/api/tests/history?${query}`, { signal });
  } catch (e) {
    if (e.isNotFound) return null;
    throw e;
  }
}

/** Quarantines a test (`on`, with a reason) or ends its quarantine. */
export function setQuarantine(test, on, reason) {
  const body = { repo: test.repo, profile: test.profile ?? null, task: test.task, case: test.case ?? null };
  if (reason) body.reason = reason;
  return request('/api/tests/quarantine', { method: on ? 'POST' : 'DELETE', body });
}

/** One artifact's bytes: the name is one path segment (its `/` as `%2F`). */
export const artifactUrl = (id, name) => `${queuePath(id)}/artifacts/${encodeURIComponent(name)}`;

/** The firmware sizes of a repository (and profile), newest first. */
export function getSizes(repo, profile, signal) {
  const query = new URLSearchParams({ repo });
  if (profile) query.set('profile', profile);
  return request(`/api/sizes?${query}`, { signal });
}

/** Every repository and profile with measured firmware: `{sources: [{repo, profile, commits, last_measured_at}]}`. */
export const getSizeSources = (signal) => request('/api/sizes/sources', { signal });
/** A queue's size diff by symbol against the previous measured commit. */
export const getSizeDiff = (id, signal) => request(`${queuePath(id)}/size-diff`, { signal });

/** The dashboard's size trend of a repository and profile. */
export function sizesHref(repo, profile) {
  const query = new URLSearchParams({ repo });
  if (profile) query.set('profile', profile);
  return `#/sizes?${query}`;
}

const bisectPath = (id) => `/api/bisect/${encodeURIComponent(id)}`;
/** Starts a bisect (`POST /api/bisect`, body as bisect.js's `bisectRequest`); answers `{id, status}`. */
export const createBisect = (body) => request('/api/bisect', { method: 'POST', body });
export const getBisect = (id, signal) => request(bisectPath(id), { signal });
export const listBisects = (signal) => request('/api/bisects', { signal });
export const cancelBisect = (id) => request(`${bisectPath(id)}/cancel`, { method: 'POST' });
export const deleteBisect = (id) => request(bisectPath(id), { method: 'DELETE' });

// Boards: the list, one board's history, its reservation and its power.
export const listBoards = (signal) => request('/api/boards', { signal });
export const boardHistory = (worker, board, signal) =>
  request(`${boardApiPath(worker, board)}/history`, { signal });
/** `{minutes, reason}`: the board leaves the pool for this token until released or expired. */
export const reserveBoard = (worker, board, body) =>
  request(`${boardApiPath(worker, board)}/reserve`, { method: 'POST', body });
export const releaseBoard = (worker, board) =>
  request(`${boardApiPath(worker, board)}/reserve`, { method: 'DELETE' });
/** `action`: `on`, `off` or `cycle`; only the reserver may (403/409 otherwise). */
export const powerBoard = (worker, board, action) =>
  request(`${boardApiPath(worker, board)}/power`, { method: 'POST', body: { action } });
