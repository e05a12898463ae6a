// Progress inside a running task and the queue's ETA. Pure.
//
// A task's progress (`{done, total}`) comes from its output (JUnit-style
// "case 12 of 25" or the profile's `progress_regex`); `expected_duration_ms`
// comes from the durations recorded for that scenario before. The ETA exists
// only when every task still to finish has a recorded duration: a guess for
// part of the queue would read as a promise for all of it; nor for a queue
// that waits for a worker none of the live ones is.

import { parseTime } from './format.js';

/** {done, total, fraction} for a task whose output reported progress, else null. */
export function taskProgress(task) {
  const p = task?.progress;
  if (!p || !Number.isFinite(p.total) || p.total <= 0 || !Number.isFinite(p.done)) return null;
  const done = Math.min(Math.max(0, p.done), p.total);
  return { done, total: p.total, fraction: done / p.total };
}

/** How much longer one unfinished task should take, or null when unknown. */
export function taskRemainingMs(task, now) {
  const expected = task.expected_duration_ms;
  if (task.status === 'Waiting') return Number.isFinite(expected) ? expected : null;
  if (task.status !== 'Running') return 0;
  const started = parseTime(task.started_at);
  const elapsed = started === null ? 0 : Math.max(0, now - started);
  const progress = taskProgress(task);
  // Reported progress beats history: elapsed / fraction is this run's own pace.
  if (progress && progress.done > 0) return Math.max(0, elapsed / progress.fraction - elapsed);
  if (!Number.isFinite(expected)) return null;
  return Math.max(0, expected - elapsed);
}

/**
 * Milliseconds until the queue should end, or null: ended, no history for
 * some task, or waiting when no worker can run it (`worker_available`
 * false: it may never start, so no time can be promised).
 */
export function queueEtaMs(view, now = Date.now()) {
  if (view.status !== 'Running' && view.status !== 'Waiting') return null;
  if (view.status === 'Waiting' && view.worker_available === false) return null;
  let total = 0;
  for (const task of view.tasks ?? []) {
    const left = taskRemainingMs(task, now);
    if (left === null) return null;
    total += left;
  }
  return total;
}
