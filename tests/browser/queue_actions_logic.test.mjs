// The queue page's rerun and firmware-size decisions, without a browser:
// which tasks "Rerun failed" takes, and when the buttons show.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { didNotPass, rerunChoices } from '../../services/gateway/assets/rerun.js';

const task = (status, result = null) => ({ id: 't', status, result });

test('a task that did not pass failed, was skipped or cancelled; FLAKY passed', () => {
  for (const result of ['FAIL', 'TIMEOUT', 'ERROR']) assert.ok(didNotPass(task('Finished', result)), result);
  for (const result of ['PASS', 'FLAKY']) assert.ok(!didNotPass(task('Finished', result)), result);
  assert.ok(didNotPass(task('Skipped')) && didNotPass(task('Cancelled')));
  assert.ok(!didNotPass(task('Waiting')) && !didNotPass(task('Running')));
});

test('a queue reruns only with a resolved commit, and counts what failed', () => {
  const tasks = [task('Finished', 'PASS'), task('Finished', 'FAIL'), task('Skipped')];
  assert.deepEqual(rerunChoices({ commit: 'abc', tasks }), { any: true, failed: 2 });
  assert.deepEqual(rerunChoices({ commit: null, tasks }), { any: false, failed: 0 });
});
