// Pure decisions of the Boards pages, tested without a browser
// (tests/browser/boards_logic.test.mjs): a board's state in words and a
// tone, what is left of a reservation, a board's URLs (`#/board/<w>/<b>`,
// its API paths, its console's WebSocket), a change and a health result in
// words, the reserve form read into a request and its answer in words, and
// the console's text frames and what its note says.

import { parseTime } from './format.js';

/** Every state `GET /api/boards` says, in words, with a tone for its badge. */
const STATES = {
  idle: { word: 'idle', tone: 'ok', hint: 'free: the next queue of its kind may take it' },
  busy: { word: 'busy', tone: 'info', hint: 'a queue runs on it' },
  reserved: { word: 'reserved', tone: 'warn', hint: 'out of the pool for the one who reserved it' },
  quarantined: { word: 'quarantined', tone: 'bad', hint: 'failed to boot too often; its health command may re-admit it' },
  offline: { word: 'offline', tone: 'idle', hint: 'its worker cannot open its serial port, or the worker is gone' },
};

/** `{word, tone, hint}` of a board's state; an unknown one reads as itself. */
export function boardState(state) {
  return STATES[state] ?? { word: String(state ?? 'unknown'), tone: 'idle', hint: '' };
}

/**
 * What is left of a reservation ending at `untilIso`: `"42 min left"`,
 * `"1 h 05 min left"`, `"under a minute left"`, `"expired"`; null when
 * there is no (readable) end.
 */
export function reservationLeft(untilIso, now = Date.now()) {
  const until = parseTime(untilIso);
  if (until === null) return null;
  const s = Math.floor((until - now) / 1000);
  if (s <= 0) return 'expired';
  if (s < 60) return 'under a minute left';
  const minutes = Math.ceil(s / 60);
  if (minutes < 60) return `${minutes} min left`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min left`;
}

/** `{worker, board}` of a `#/board/<worker>/<board>` path, else null. */
export function boardFromPath(path) {
  const match = /^\/board\/([^/]+)\/([^/]+)\/?$/.exec(path);
  if (!match) return null;
  const decode = (s) => { try { return decodeURIComponent(s); } catch { return s; } };
  const [worker, board] = [decode(match[1]), decode(match[2])];
  return worker && board ? { worker, board } : null;
}

const seg = encodeURIComponent;
export const boardHref = (worker, board) => `#/board/${seg(worker)}/${seg(board)}`;
export const boardApiPath = (worker, board) => `/api/boards/${seg(worker)}/${seg(board)}`;

/**
 * The console's WebSocket URL on the page's own origin (`ws:` beside
 * `http:`, `wss:` beside `https:`), with `?token=` when there is one: a
 * browser cannot set a header on a WebSocket.
 */
export function consoleUrl(location, worker, board, token = null) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = token ? `?${new URLSearchParams({ token })}` : '';
  return `${scheme}//${location.host}${boardApiPath(worker, board)}/console${query}`;
}

/**
 * Whether the power buttons are worth pressing: only the reserver may. `me`
 * is this page's token name as the console's hello said it; before that
 * (null) any reserved board may be the page's, and the server says no.
 */
export const canPower = (view, me = null) =>
  Boolean(view?.reserved_by) && (me === null || view.reserved_by === me);

/**
 * A console text frame (the gateway's JSON control messages):
 * `{kind: 'hello', mode, token}` (`mode` `read-write` or `read-only` when it
 * opened; `token` this page's token name), `{kind: 'notice', message}`, or
 * `{kind: 'text', text}` for anything else, which is the board's.
 */
export function consoleFrame(text) {
  let data = null;
  try { data = JSON.parse(text); } catch { /* the board's own text */ }
  if (data?.type === 'hello') return { kind: 'hello', mode: data.mode ?? null, token: data.token ?? null };
  if (data?.type === 'notice') return { kind: 'notice', message: String(data.message ?? '') };
  return { kind: 'text', text };
}

/**
 * The console's note: `{mode, text}`, `mode` `read-write` when this page's
 * keystrokes reach the board, `read-only` when they do not, `unknown` when
 * the page does not know its token's name yet.
 */
export function consoleNote(reservedBy, me) {
  if (!reservedBy) {
    return { mode: 'read-only', text: 'Read-only: nobody has reserved this board. Reserve it to type into its console.' };
  }
  if (me === null || me === undefined) {
    return { mode: 'unknown', text: `Reserved by ${reservedBy}: only their keystrokes reach the board; anyone else's are dropped.` };
  }
  if (reservedBy === me) {
    return { mode: 'read-write', text: `Read-write: you (${me}) hold the reservation; what you type goes to the board.` };
  }
  return { mode: 'read-only', text: `Read-only: reserved by ${reservedBy}; only their keystrokes reach the board.` };
}

/** `POST .../reserve`'s answer in words: until when, and when it is free if a queue still runs on it. */
export function reservedText(answer, formatTime) {
  const head = `${answer.worker}/${answer.board} reserved by ${answer.reserved_by} until ${formatTime(answer.until)}`;
  return answer.free_at ? `${head}; free ${answer.free_at}` : head;
}

/**
 * A board change (`history.changes[]`) in words, without its time or
 * queue: `"reserved by alice · flashing by hand"`, `"power by alice · cycle ok"`,
 * `"quarantined by rack1 · 3 boots failed"`, `"leased by scheduler"`.
 */
export function boardChangeText(change) {
  const head = `${change.kind} by ${change.by}`;
  return change.detail ? `${head} · ${change.detail}` : head;
}

/** The last health check: `{text, tone}`; `"not checked"` without one. */
export function healthText(health) {
  if (!health) return { text: 'not checked', tone: 'idle' };
  return health.ok
    ? { text: 'healthy', tone: 'ok' }
    : { text: `unhealthy: ${health.message}`, tone: 'bad' };
}

/** The longest reservation the form offers: a working day. */
export const MAX_RESERVE_MINUTES = 24 * 60;

/**
 * The reserve form's fields as `{body: {minutes, reason}}` for
 * `POST .../reserve`, or `{error}` saying what to fix.
 */
export function reserveRequest(minutesText, reasonText) {
  const minutes = Number(String(minutesText).trim());
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_RESERVE_MINUTES) {
    return { error: `minutes: a whole number from 1 to ${MAX_RESERVE_MINUTES}` };
  }
  const reason = String(reasonText ?? '').trim();
  if (reason === '') return { error: 'reason: say why you take the board (others see it)' };
  return { body: { minutes, reason } };
}
