// The queue page's "Size diff" card: the firmware's sections and its
// largest growers and shrinkers by symbol against the previous measured
// commit (GET /api/queue/{id}/size-diff; the diff is the server's).

import { getSizeDiff, queueHref } from './api.js';
import { h, replace } from './dom.js';
import { signedBytes } from './size_chart.js';

/** The card; `show(view)` loads the diff once the view has firmware sizes. */
export function sizeDiffCard() {
  const element = h('section', { class: 'card', 'aria-label': 'Size diff', hidden: true, 'data-test': 'size-diff' });
  let asked = null;
  return {
    element,
    async show(view) {
      // Asked again only when the measure changed (a new attempt measured anew).
      const key = view.firmware ? `${view.attempt}:${view.firmware.text}:${view.firmware.data}:${view.firmware.bss}` : null;
      if (!key || key === asked) return;
      asked = key;
      try {
        render(element, await getSizeDiff(view.id));
      } catch (e) {
        if (e.isNotFound) return; // the projector has not written the row yet
        element.hidden = false;
        replace(element, h('h2', {}, 'Size diff'), h('p', { class: 'muted' }, `Could not load the size diff: ${e.message}`));
      }
    },
  };
}

function render(element, diff) {
  element.hidden = false;
  if (!diff.base) {
    replace(element, h('h2', {}, 'Size diff'),
      h('p', { class: 'muted', 'data-test': 'size-diff-none' }, 'No earlier commit of this repository and profile was measured.'));
    return;
  }
  const base = diff.base;
  replace(element, h('h2', {}, 'Size diff'),
    h('p', { class: 'muted' }, 'Against ',
      h('a', { href: queueHref(base.queue_id), class: 'mono', 'data-test': 'size-diff-base' }, base.commit ? base.commit.slice(0, 10) : base.queue_id),
      ` · text ${signedBytes(diff.text)} · data ${signedBytes(diff.data)} · bss ${signedBytes(diff.bss)}`),
    changeTable('Grew', diff.growers, 'size-growers'),
    changeTable('Shrank', diff.shrinkers, 'size-shrinkers'));
}

function changeTable(title, changes, test) {
  if (!changes.length) return null;
  return h('table', { class: 'sizes-table', 'data-test': test },
    h('thead', {}, h('tr', {}, [title, 'before', 'after', 'change'].map((c) => h('th', {}, c)))),
    h('tbody', {}, changes.map((c) => h('tr', { 'data-symbol': c.name },
      h('td', { class: 'mono break' }, c.name),
      h('td', { class: 'num' }, String(c.before)),
      h('td', { class: 'num' }, String(c.after)),
      h('td', { class: 'num' }, signedBytes(c.delta))))));
}
