// The bisect's pure parts, without a browser: whether a failed task offers
// "Bisect this failure", which commit it sends as `good`, the request it
// posts, and the bisect page's line of commits with verdicts and tones.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  bisectHref, bisectRequest, bisectStatus, canBisect, commitLine, goodCommit, stepSummary,
} from '../../services/gateway/assets/bisect.js';

const run = (queue_id, commit, result, extra = {}) => ({
  queue_id, commit, result, attempt: 1, try: 1, duration_ms: 10, at: '2026-11-29T18:00:00Z', ...extra,
});

const view = (over = {}) => ({
  id: 'fw-9', source: { repo: 'https://git.example/fw.git', ref: 'main' }, commit: 'c9', profile: null,
  requires: [], ...over,
});

// --- the button ----------------------------------------------------------------

test('a failed or timed-out task offers a bisect; a passed, errored or quarantined one does not', () => {
  assert.equal(canBisect(view(), { result: 'FAIL' }), true);
  assert.equal(canBisect(view(), { result: 'TIMEOUT' }), true);
  assert.equal(canBisect(view(), { result: 'PASS' }), false);
  assert.equal(canBisect(view(), { result: 'FLAKY' }), false);
  assert.equal(canBisect(view(), { result: 'ERROR' }), false);
  assert.equal(canBisect(view(), { result: null }), false);
  assert.equal(canBisect(view(), { result: 'FAIL', quarantined: true }), false);
});

test('without the commit the queue ran there is no bad commit, so no button', () => {
  assert.equal(canBisect(view({ commit: null }), { result: 'FAIL' }), false);
});

// --- good --------------------------------------------------------------------

test('good is the newest commit that passed before this queue failed', () => {
  const runs = [run('fw-9', 'c9', 'FAIL'), run('fw-8', 'c8', 'FAIL'), run('fw-7', 'c7', 'PASS'), run('fw-5', 'c5', 'PASS')];
  assert.equal(goodCommit(runs, 'fw-9', 'c9'), 'c7');
});

test('a pass after this queue (a fix on top) is not good', () => {
  const runs = [run('fw-10', 'c10', 'PASS'), run('fw-9', 'c9', 'FAIL'), run('fw-4', 'c4', 'PASS')];
  assert.equal(goodCommit(runs, 'fw-9', 'c9'), 'c4');
});

test('a commit that also failed is flaky, not good; bad itself never is', () => {
  const runs = [
    run('fw-9', 'c9', 'FAIL'),
    run('fw-8', 'c9', 'PASS'),
    run('fw-7', 'c7', 'PASS', { try: 2 }),
    run('fw-7', 'c7', 'FAIL'),
    run('fw-6', 'c6', 'PASS'),
  ];
  assert.equal(goodCommit(runs, 'fw-9', 'c9'), 'c6');
});

test('no pass in the history, no history, or a history without this queue: no good (the bisect walks back)', () => {
  assert.equal(goodCommit([run('fw-9', 'c9', 'FAIL'), run('fw-8', 'c8', 'TIMEOUT')], 'fw-9', 'c9'), null);
  assert.equal(goodCommit(null, 'fw-9', 'c9'), null);
  assert.equal(goodCommit([run('fw-3', 'c3', 'PASS')], 'fw-9', 'c9'), null);
});

test('a run without a commit cannot be good', () => {
  assert.equal(goodCommit([run('fw-9', 'c9', 'FAIL'), run('fw-8', null, 'PASS')], 'fw-9', 'c9'), null);
});

// --- the request ----------------------------------------------------------------

test('the request names the repo, the task and bad; good, profile, requires and the timeout only when known', () => {
  const task = { id: 'uart', scenario: 'tests/uart.sh', result: 'FAIL' };
  assert.deepEqual(bisectRequest(view(), task, null), {
    source: { repo: 'https://git.example/fw.git' }, bad: 'c9', tasks: [{ id: 'uart', scenario: 'tests/uart.sh' }],
  });
  assert.deepEqual(bisectRequest(view({ profile: 'qemu-arm', requires: ['board'] }), { ...task, timeout_s: 30 }, 'c7'), {
    source: { repo: 'https://git.example/fw.git' }, bad: 'c9', good: 'c7', profile: 'qemu-arm',
    requires: ['board'], tasks: [{ id: 'uart', scenario: 'tests/uart.sh', timeout_s: 30 }],
  });
});

// --- the page ----------------------------------------------------------------

test('statuses have tones and say when the bisect has ended', () => {
  assert.deepEqual(bisectStatus({ status: 'Running' }), { text: 'Running', tone: 'info', ended: false });
  assert.deepEqual(bisectStatus({ status: 'Found' }), { text: 'Found', tone: 'ok', ended: true });
  for (const status of ['Inconclusive', 'Error', 'Cancelled']) assert.equal(bisectStatus({ status }).ended, true);
});

const found = {
  id: 'b-1', status: 'Found', good: 'c1', bad: 'c8', reason: null,
  first_bad: { commit: 'c5', subject: 'Break the UART', author: 'Ada <ada@example.org>' },
  commits: ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8'].map((commit) => ({ commit, subject: `subject ${commit}`, author: 'Bo' })),
  steps: [
    { commit: 'c8', queues: ['b-1-s1'], verdict: 'fail' },
    { commit: 'c1', queues: ['b-1-s2'], verdict: 'pass' },
    { commit: 'c4', queues: ['b-1-s3'], verdict: 'pass' },
    { commit: 'c6', queues: ['b-1-s4', 'b-1-s5'], verdict: 'flaky' },
    { commit: 'c5', queues: ['b-1-s6'], verdict: 'fail' },
    { commit: 'c3', queues: ['b-1-s7'], verdict: 'skipped' },
  ],
};

test('the line is the range oldest first, each step coloured by its verdict, untested commits grey', () => {
  const line = commitLine(found);
  assert.deepEqual(line.map((c) => c.commit), ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8']);
  assert.deepEqual(line.map((c) => c.tone),
    ['ok', 'untested', 'skipped', 'ok', 'bad', 'flaky', 'untested', 'bad']);
  assert.deepEqual(line[5].queues, [{ id: 'b-1-s4', label: 'run 1' }, { id: 'b-1-s5', label: 'run 2' }]);
  assert.deepEqual(line[1].queues, []);
});

test('good, bad and the culprit are marked; the culprit carries its subject and author', () => {
  const line = commitLine(found);
  assert.deepEqual(line[0].marks, ['good']);
  assert.deepEqual(line[7].marks, ['bad']);
  assert.deepEqual(line[4].marks, ['first bad']);
  assert.equal(line[4].subject, 'Break the UART');
  assert.equal(line[3].subject, 'subject c4');
  assert.equal(line[4].author, 'Ada <ada@example.org>');
});

test('the range keeps the subject of each commit; a queued step without a verdict is running', () => {
  const line = commitLine({
    status: 'Running', good: 'a', bad: 'c', first_bad: null,
    commits: [{ commit: 'a', subject: 'one', author: 'Al' }, { commit: 'b', subject: 'two', author: 'Bo' },
      { commit: 'c', subject: 'three', author: 'Cy' }],
    steps: [{ commit: 'b', phase: 'test', queues: ['q'], verdict: null, majority: null }],
  });
  assert.deepEqual(line.map((c) => [c.commit, c.subject, c.author, c.tone]),
    [['a', 'one', 'Al', 'untested'], ['b', 'two', 'Bo', 'running'], ['c', 'three', 'Cy', 'untested']]);
});

test('a commit tested then confirmed shows the queues of both steps and the last verdict; running while one is undecided', () => {
  const bisect = {
    status: 'Running', good: 'a', bad: 'c', first_bad: null, commits: [{ commit: 'a' }, { commit: 'b' }, { commit: 'c' }],
    steps: [
      { commit: 'b', phase: 'test', queues: ['q1', 'q2'], verdict: 'flaky', majority: 'fail' },
      { commit: 'b', phase: 'confirm', queues: ['q3'], verdict: null, majority: null },
    ],
  };
  let b = commitLine(bisect)[1];
  assert.deepEqual([b.tone, b.verdict, b.queues.map((q) => [q.id, q.label])],
    ['running', null, [['q1', 'run 1'], ['q2', 'run 2'], ['q3', 'confirm 1']]]);
  bisect.steps[1].verdict = 'fail';
  b = commitLine(bisect)[1];
  assert.deepEqual([b.tone, b.verdict], ['bad', 'fail']);
  bisect.steps.pop();
  b = commitLine(bisect)[1];
  assert.deepEqual([b.tone, b.verdict, b.majority], ['flaky', 'flaky', 'fail']);
});

test('without a range the line is good, the steps in order, then bad; a walk-back has no good yet', () => {
  const line = commitLine({
    status: 'Running', good: null, bad: 'c8', first_bad: null,
    steps: [{ commit: 'c8', queues: [], verdict: 'fail' }, { commit: 'c7', queues: [], verdict: 'fail' }],
  });
  assert.deepEqual(line.map((c) => [c.commit, c.tone, c.marks]), [['c7', 'bad', []], ['c8', 'bad', ['bad']]]);
  const full = commitLine({ ...found, commits: [] });
  assert.deepEqual(full.map((c) => c.commit), ['c1', 'c4', 'c6', 'c5', 'c3', 'c8']);
});

test('a range that leaves out good and bad gets them at its ends, walked-back steps before it', () => {
  const line = commitLine({
    status: 'Running', good: 'g', bad: 'z', first_bad: null, commits: [{ commit: 'm' }],
    steps: [{ commit: 'z', queues: [], verdict: 'fail' }, { commit: 'y', queues: [], verdict: 'fail' },
      { commit: 'x', queues: [], verdict: 'fail' }],
  });
  assert.deepEqual(line.map((c) => c.commit), ['x', 'y', 'g', 'm', 'z']);
});

test('the summary counts decided steps, skipped and flaky ones', () => {
  assert.equal(stepSummary(found), '6 steps decided, 1 skipped, 1 flaky');
  assert.equal(stepSummary({ steps: [{ commit: 'a', verdict: 'pass' }, { commit: 'b', verdict: null }] }), '1 step decided');
});

test('a bisect page link escapes its id', () => {
  assert.equal(bisectHref('b 1/x'), '#/bisect/b%201%2Fx');
});
