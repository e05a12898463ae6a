// The queue page's rerun and firmware-size decisions, without a browser:
// which tasks "Rerun failed" takes, when the buttons show, and a firmware's
// use of its size budget.
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

test('a firmware uses its budget as flash = text + data and ram = data + bss, rounded up', async () => {
  const { budgetUse, percentOf, signedBytes } = await import('../../services/gateway/assets/size_chart.js');
  const size = { text: 1000, data: 30, bss: 70 };
  const use = budgetUse(size, { flash_bytes: 1000, ram_bytes: null });
  assert.deepEqual(use.flash, { used: 1030, budget: 1000, percent: 103, over: true });
  assert.equal(use.ram, null);
  assert.deepEqual(budgetUse(size, { flash_budget: 2060, ram_budget: 200 }).ram, { used: 100, budget: 200, percent: 50, over: false });
  assert.deepEqual(budgetUse(size, null), { flash: null, ram: null });
  assert.equal(percentOf(1001, 1000), 101);
  assert.equal(percentOf(5, 0), null);
  assert.deepEqual([signedBytes(12), signedBytes(-3), signedBytes(0)], ['+12 B', '−3 B', '±0 B']);
});
