// A test's own page (`#/test?repo=...&profile=...&task=...&case=...`), from
// `GET /api/tests/history`: its state, the duration trend of its runs, its
// failures grouped by the first line of their message, its quarantine
// history (who, when, why), its runs newest first (each linked to its queue,
// with its commit, duration and try) and, apart, its runs in bisect steps.

import { queueHref, testHistory } from './api.js';
import { bisectHref } from './bisect.js';
import { h, replace, svg } from './dom.js';
import { formatAge, formatDuration, formatTime, shortCommit } from './format.js';
import { sourceLabel } from './source.js';
import { flipPercent, quarantineLine, testName, testsHash, trendPoints } from './test_history.js';

const TREND = { width: 640, height: 64 };

export function testPage(root, test) {
  const body = h('div', {}, h('p', { class: 'state' }, 'Loading the test…'));
  const back = h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('a', { href: testsHash({ repo: test?.repo }) }, 'Tests'), h('span', { 'aria-hidden': 'true' }, ' / '),
    h('span', { class: 'mono' }, test ? testName(test) : '?'));
  replace(root, back, body);
  document.title = `${test ? testName(test) : 'Test'} · TestArena`;
  const controller = new AbortController();
  if (!test) {
    replace(body, h('div', { class: 'state', 'data-test': 'not-found' },
      h('p', { class: 'state-title' }, 'A test page needs a repo and a task.')));
  } else {
    load(body, test, controller.signal);
  }
  return { destroy() { controller.abort(); } };
}

async function load(body, test, signal) {
  let page;
  try {
    page = await testHistory(test, signal);
  } catch (e) {
    if (e.name === 'AbortError') return;
    replace(body, h('div', { class: 'banner banner-error', role: 'alert' }, `Could not load the test: ${e.message}`));
    return;
  }
  if (!page) {
    replace(body, h('div', { class: 'state', 'data-test': 'not-found' },
      h('p', { class: 'state-title' }, 'No run or quarantine is recorded for this test.')));
    return;
  }
  replace(body, head(page.test), trendCard(page.runs), failuresCard(page.failures),
    quarantineCard(page.quarantines), runsCard('Runs', page.runs, 'test-runs'),
    page.bisect_runs.length ? runsCard('Runs in bisect steps (left out of its state)', page.bisect_runs, 'bisect-runs') : null);
}

function head(t) {
  return h('div', { class: 'page-head', 'data-test': 'test-head' },
    h('h1', { class: 'mono' }, testName(t)),
    h('p', { class: 'muted' }, sourceLabel(t.repo), t.profile ? ` · ${t.profile}` : ' · default profile'),
    h('p', {},
      h('span', { class: `badge state-${t.state}`, 'data-test': 'test-state' }, t.state),
      t.quarantined ? h('span', { class: 'badge res-quarantined', title: t.quarantine_reason ?? '' }, 'quarantined') : null,
      ' ', h('span', { class: 'muted small' },
        `${t.runs} runs in its window: ${t.passes} passed, ${t.flaky_runs} flaky, ${t.failures} failed, ${t.errors} could not run; `
        + `flip rate ${flipPercent(t.flip_rate)}; p50 ${formatDuration(t.duration_ms_p50)}`)));
}

function card(title, testId, ...content) {
  return h('section', { class: 'card test-card', 'data-test': testId }, h('h2', {}, title), ...content);
}

/** Durations of the runs listed, oldest on the left. */
function trendCard(runs) {
  const points = trendPoints(runs, TREND.width, TREND.height);
  return card('Duration', 'test-trend', points
    ? svg('svg', {
      class: 'trend trend-wide', width: TREND.width, height: TREND.height, role: 'img',
      viewBox: `0 0 ${TREND.width} ${TREND.height}`, 'aria-label': `duration of the last ${runs.length} runs`,
    }, svg('polyline', { points, fill: 'none' }))
    : h('p', { class: 'muted' }, 'A trend needs two runs.'));
}

function failuresCard(failures) {
  if (!failures.length) return card('Failures', 'test-failures', h('p', { class: 'muted' }, 'No failed run listed.'));
  return card('Failures', 'test-failures', h('table', { class: 'tests' },
    h('thead', {}, h('tr', {}, h('th', {}, 'First line of the message'), h('th', { class: 'num' }, 'Runs'), h('th', {}, 'Last'))),
    h('tbody', {}, failures.map((f) => h('tr', { 'data-test': 'failure-group' },
      h('td', { class: 'mono break' }, f.first_line ?? h('span', { class: 'muted' }, 'no message')),
      h('td', { class: 'num', 'data-test': 'failure-count' }, String(f.count)),
      h('td', {}, h('a', { href: queueHref(f.last_queue_id) }, f.last_queue_id), ' ',
        h('span', { class: 'muted small', title: formatTime(f.last_at) }, formatAge(f.last_at))))))));
}

function quarantineCard(records) {
  if (!records.length) return card('Quarantine', 'test-quarantines', h('p', { class: 'muted' }, 'Never quarantined.'));
  return card('Quarantine', 'test-quarantines', h('ul', { class: 'quarantine-history' },
    records.map((r) => h('li', { 'data-test': 'quarantine-record', 'data-quarantined': String(r.quarantined) },
      h('span', { title: formatTime(r.at) }, formatAge(r.at)), ' — ', quarantineLine(r)))));
}

function runsCard(title, runs, testId) {
  return card(title, testId, h('table', { class: 'tests' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Result'), h('th', {}, 'Queue'), h('th', {}, 'Commit'),
      h('th', { class: 'num' }, 'Duration'), h('th', { class: 'num' }, 'Try'), h('th', {}, 'Ended'), h('th', {}, 'Message'))),
    h('tbody', {}, runs.map((run) => h('tr', { 'data-test': 'test-run', 'data-result': run.result },
      h('td', {}, h('span', { class: `badge res-${run.result.toLowerCase()}` }, run.result)),
      h('td', {}, h('a', { href: queueHref(run.queue_id), 'data-test': 'run-queue' }, run.queue_id),
        run.bisect ? h('div', {}, h('a', { class: 'small', href: bisectHref(run.bisect) }, `bisect ${run.bisect}`)) : null),
      h('td', { class: 'mono', title: run.commit ?? '' }, run.commit
        ? h('a', { href: `#/?commit=${encodeURIComponent(run.commit)}`, title: `queues at ${run.commit}` }, shortCommit(run.commit))
        : '—'),
      h('td', { class: 'num' }, formatDuration(run.duration_ms)),
      h('td', { class: 'num', 'data-test': 'run-try' }, String(run.try)),
      h('td', { class: 'muted small', title: formatTime(run.at) }, formatAge(run.at)),
      h('td', { class: 'small break' }, run.message?.split('\n')[0] ?? ''))))));
}
