// The Boards pages' pure parts, without a browser: a board's state in words
// and tones, what is left of a reservation, `#/board/<w>/<b>` read back, the
// console's WebSocket URL, a change and a health check in words, and the
// reserve form. Run by scripts/test-browser even where Chromium is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  boardApiPath, boardChangeText, boardFromPath, boardHref, boardState, canPower, consoleFrame, consoleNote, consoleUrl,
  healthText, MAX_RESERVE_MINUTES, reservationLeft, reservedText, reserveRequest,
} from '../../services/gateway/assets/boards.js';

test('every board state has its own word and the ones that need a look have their own tone', () => {
  const states = ['idle', 'busy', 'reserved', 'quarantined', 'offline'];
  const read = states.map(boardState);
  assert.deepEqual(read.map((s) => s.word), states);
  assert.equal(new Set(read.map((s) => s.tone)).size, states.length);
  assert.equal(boardState('quarantined').tone, 'bad');
  assert.equal(boardState('idle').tone, 'ok');
  for (const s of read) assert.ok(s.hint.length > 0, `${s.word} has no hint`);
});

test('a state this page does not know reads as itself, quietly', () => {
  assert.deepEqual(boardState('flashing'), { word: 'flashing', tone: 'idle', hint: '' });
  assert.equal(boardState(undefined).word, 'unknown');
});

test('a reservation counts down in minutes, then hours and minutes, and says when it is over', () => {
  const now = Date.parse('2026-12-07T15:00:00Z');
  assert.equal(reservationLeft('2026-12-07T15:42:00Z', now), '42 min left');
  // A part of a minute counts as a minute: 30 s more than 41 min is 42.
  assert.equal(reservationLeft('2026-12-07T15:41:30Z', now), '42 min left');
  assert.equal(reservationLeft('2026-12-07T16:05:00Z', now), '1 h 05 min left');
  assert.equal(reservationLeft('2026-12-07T17:00:00Z', now), '2 h 00 min left');
  assert.equal(reservationLeft('2026-12-07T15:00:40Z', now), 'under a minute left');
  assert.equal(reservationLeft('2026-12-07T15:00:00Z', now), 'expired');
  assert.equal(reservationLeft('2026-12-07T14:00:00Z', now), 'expired');
  assert.equal(reservationLeft(null, now), null);
  assert.equal(reservationLeft('not a time', now), null);
});

test('a board page URL reads back as its worker and board, escaped parts included', () => {
  assert.deepEqual(boardFromPath('/board/rack-1/nucleo-1'), { worker: 'rack-1', board: 'nucleo-1' });
  assert.deepEqual(boardFromPath('/board/rack-1/nucleo-1/'), { worker: 'rack-1', board: 'nucleo-1' });
  assert.deepEqual(boardFromPath('/board/lab%20a/b'), { worker: 'lab a', board: 'b' });
  // A broken escape is kept as written rather than failing the route.
  assert.deepEqual(boardFromPath('/board/w/%E0%A4%A'), { worker: 'w', board: '%E0%A4%A' });
  for (const other of ['/boards', '/board/w', '/board/w/', '/board//b', '/board/w/b/c', '/queue/x']) {
    assert.equal(boardFromPath(other), null, other);
  }
});

test('a board link and its API paths escape each part, and the link reads back', () => {
  assert.equal(boardHref('rack 1', 'n/1'), '#/board/rack%201/n%2F1');
  assert.deepEqual(boardFromPath(boardHref('rack 1', 'n/1').slice(1)), { worker: 'rack 1', board: 'n/1' });
  assert.equal(boardApiPath('rack-1', 'nucleo-1'), '/api/boards/rack-1/nucleo-1');
});

test('the console is a WebSocket on the page origin, wss beside https, with a token only when there is one', () => {
  assert.equal(consoleUrl({ protocol: 'http:', host: '127.0.0.1:8080' }, 'w1', 'b1'),
    'ws://127.0.0.1:8080/api/boards/w1/b1/console');
  assert.equal(consoleUrl({ protocol: 'https:', host: 'arena.lab' }, 'w1', 'b1', 's3cr&t'),
    'wss://arena.lab/api/boards/w1/b1/console?token=s3cr%26t');
});

test('power is offered to the reserver, or on any reserved board while the page does not know its token', () => {
  assert.equal(canPower({ state: 'reserved', reserved_by: 'alice' }, 'alice'), true);
  assert.equal(canPower({ state: 'reserved', reserved_by: 'alice' }, 'bob'), false);
  assert.equal(canPower({ state: 'reserved', reserved_by: 'alice' }, null), true);
  // Reserved while the queue it ran finishes: busy, yet its reserver may act.
  assert.equal(canPower({ state: 'busy', reserved_by: 'alice' }, 'alice'), true);
  assert.equal(canPower({ state: 'idle', reserved_by: null }, null), false);
  assert.equal(canPower({ state: 'idle', reserved_by: null }, 'alice'), false);
  assert.equal(canPower(null), false);
});

test('the console tells its hello and notices from the board\'s own text', () => {
  assert.deepEqual(consoleFrame('{"type":"hello","worker":"w","board":"b","mode":"read-only","token":"alice"}'),
    { kind: 'hello', mode: 'read-only', token: 'alice' });
  assert.deepEqual(consoleFrame('{"type":"notice","message":"read-only: your input is not sent"}'),
    { kind: 'notice', message: 'read-only: your input is not sent' });
  for (const text of ['U-Boot 2026.01\r\n', '{"temp": 41}', '{', 'null', '"hello"']) {
    assert.deepEqual(consoleFrame(text), { kind: 'text', text }, text);
  }
});

test('the console note says whether this page\'s keystrokes reach the board', () => {
  assert.equal(consoleNote(null, 'alice').mode, 'read-only');
  assert.match(consoleNote(null, null).text, /^Read-only: nobody has reserved/);
  assert.deepEqual(consoleNote('alice', 'alice'),
    { mode: 'read-write', text: 'Read-write: you (alice) hold the reservation; what you type goes to the board.' });
  assert.deepEqual(consoleNote('alice', 'bob'),
    { mode: 'read-only', text: 'Read-only: reserved by alice; only their keystrokes reach the board.' });
  assert.equal(consoleNote('alice', null).mode, 'unknown');
});

test('a reservation answer says until when, and when the board is free if a queue still runs on it', () => {
  const answer = { worker: 'w', board: 'b', reserved_by: 'alice', until: '2026-12-07T16:00:00Z', reason: 'x', free_at: null };
  const at = (iso) => `<${iso}>`;
  assert.equal(reservedText(answer, at), 'w/b reserved by alice until <2026-12-07T16:00:00Z>');
  assert.equal(reservedText({ ...answer, free_at: 'after queue q7' }, at),
    'w/b reserved by alice until <2026-12-07T16:00:00Z>; free after queue q7');
});

test('a board change says what, by whom, and its detail', () => {
  assert.equal(boardChangeText({ kind: 'reserved', by: 'alice', detail: 'flashing by hand' }),
    'reserved by alice · flashing by hand');
  assert.equal(boardChangeText({ kind: 'leased', by: 'scheduler', queue: 'q1', detail: null }), 'leased by scheduler');
});

test('a health check reads healthy, unhealthy with its message, or not checked', () => {
  assert.deepEqual(healthText(null), { text: 'not checked', tone: 'idle' });
  assert.deepEqual(healthText({ at: '2026-12-07T15:00:00Z', ok: true, message: 'exit 0' }), { text: 'healthy', tone: 'ok' });
  assert.deepEqual(healthText({ at: '2026-12-07T15:00:00Z', ok: false, message: 'exit 1: no banner' }),
    { text: 'unhealthy: exit 1: no banner', tone: 'bad' });
});

test('the reserve form asks for whole minutes within a day and a reason', () => {
  assert.deepEqual(reserveRequest(' 30 ', ' debugging the UART '), { body: { minutes: 30, reason: 'debugging the UART' } });
  assert.deepEqual(reserveRequest(String(MAX_RESERVE_MINUTES), 'x').body.minutes, MAX_RESERVE_MINUTES);
  for (const bad of ['', '0', '-5', '1.5', 'ten', String(MAX_RESERVE_MINUTES + 1)]) {
    assert.match(reserveRequest(bad, 'why').error, /^minutes: /, bad);
  }
  assert.match(reserveRequest('30', '   ').error, /^reason: /);
});
