// How a status, a result and a queue's result counts look, the same on every
// page. Colours live in app.css under the classes set here.

import { h } from './dom.js';
import { outcomeParts, outcomeWords } from './outcome.js';

/**
 * A queue's outcome: its status pill, then its verdict pill once it ended
 * (Finished · passed, Finished · failed), so a failed run no longer looks
 * like an Error. Words and tones come from outcome.js.
 */
export function statusBadge(view) {
  return h('span', { class: 'outcome', 'data-test': 'outcome', title: outcomeWords(view) },
    outcomeParts(view).map((p) => h('span', {
      class: `badge tone-${p.tone}`,
      'data-test': p.kind,
      [`data-${p.kind}`]: p.text,
      title: p.title,
    }, p.text)));
}

/** A task: its result once it has one, its status before. */
export function taskBadge(task) {
  if (task.result) {
    return h('span', { class: `badge res-${task.result.toLowerCase()}` }, task.result);
  }
  return h('span', { class: `badge st-${task.status.toLowerCase()}` }, task.status);
}

export function stageBadge(stage) {
  // `cached`: the build's outputs came from the worker's build cache, the
  // build did not run; shown in the ok tone, never as a failure.
  const titles = {
    cached: 'build outputs restored from the build cache; build skipped',
    shared: 'build outputs of the shard that built restored; build skipped',
  };
  const title = titles[stage.status] ?? null;
  return h('span', { class: `badge stage-${stage.status}`, title }, stage.status);
}

const CHIPS = [
  ['pass', 'passed'], ['flaky', 'flaky'], ['fail', 'failed'], ['timeout', 'timed out'], ['error', 'errored'],
  ['skipped', 'skipped'], ['cancelled', 'cancelled'], ['running', 'running'], ['waiting', 'waiting'],
];

/** "3 passed · 1 failed …" as small coloured chips, zeros left out. */
export function countChips(counts) {
  // `quarantined` overlaps `fail`/`timeout`: a chip of its own, not a bar part.
  const shown = [...CHIPS, ['quarantined', 'quarantined']];
  const chips = shown.filter(([key]) => (counts?.[key] ?? 0) > 0).map(([key, label]) =>
    h('span', { class: `chip chip-${key}`, 'data-count': key }, `${counts[key]} ${label}`));
  return h('span', { class: 'chips' }, chips.length ? chips : h('span', { class: 'muted' }, 'no tasks'));
}

/** A stacked bar of the task states, in the order tasks run. */
export function progressBar(counts) {
  const total = counts?.total ?? 0;
  const bar = h('span', {
    class: 'bar',
    role: 'img',
    'aria-label': `${total - (counts?.waiting ?? 0) - (counts?.running ?? 0)} of ${total} tasks done`,
  });
  if (!total) return bar;
  for (const [key] of CHIPS) {
    const n = counts[key] ?? 0;
    if (!n) continue;
    const part = h('span', { class: `bar-${key}` });
    part.style.width = `${(100 * n) / total}%`;
    bar.append(part);
  }
  return bar;
}
