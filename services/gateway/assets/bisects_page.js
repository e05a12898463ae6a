// The Bisects page (`#/bisects`): every bisect from `GET /api/bisects`,
// newest first, with its status, range, culprit and steps, each row opening
// the bisect's page. Refreshed in place every few seconds.

import { listBisects } from './api.js';
import { bisectHref, bisectStatus, shortSha, stepSummary } from './bisect.js';
import { h, replace } from './dom.js';

const REFRESH_MS = 3000;

export function bisectsPage(root) {
  document.title = 'Bisects · TestArena';
  const banner = h('div', { class: 'banner banner-error', role: 'alert', hidden: true, 'data-test': 'bisects-error' });
  const body = h('div', { class: 'card table-card' }, h('p', { class: 'state' }, 'Loading bisects…'));
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Bisects')), banner, body);

  const controller = new AbortController();
  let timer = null;

  async function refresh() {
    clearTimeout(timer);
    try {
      const { bisects } = await listBisects(controller.signal);
      banner.hidden = true;
      render(bisects);
    } catch (e) {
      if (e.name === 'AbortError') return;
      banner.hidden = false;
      replace(banner, h('strong', {}, 'Could not load the bisects. '), `${e.message}.`);
    }
    if (!controller.signal.aborted) timer = setTimeout(refresh, REFRESH_MS);
  }

  function render(bisects) {
    if (!bisects.length) {
      replace(body, h('div', { class: 'state', 'data-test': 'no-bisects' },
        h('p', { class: 'state-title' }, 'No bisect yet.'),
        h('p', { class: 'muted' }, 'Start one from a failed task of a queue ("Bisect this failure"), or with ',
          h('code', {}, 'testarena bisect'), '.')));
      return;
    }
    replace(body, h('table', { class: 'queues', 'data-test': 'bisect-table' },
      h('thead', {}, h('tr', {},
        h('th', {}, 'Bisect'), h('th', {}, 'Status'), h('th', {}, 'Range'), h('th', {}, 'First bad'), h('th', {}, 'Steps'))),
      h('tbody', {}, bisects.map(row))));
  }

  refresh();
  return {
    destroy() {
      controller.abort();
      clearTimeout(timer);
    },
  };
}

function row(b) {
  const status = bisectStatus(b);
  const open = () => { window.location.hash = bisectHref(b.id); };
  return h('tr', { class: 'clickable', 'data-test': 'bisect-row', 'data-id': b.id, onclick: open },
    h('td', {}, h('a', { href: bisectHref(b.id), class: 'mono qid' }, b.id),
      b.source?.repo ? h('div', { class: 'muted small break' }, b.source.repo) : null),
    h('td', {}, h('span', { class: `badge tone-${status.tone}`, 'data-status': status.text }, status.text)),
    h('td', { class: 'mono small' }, `${b.good ? shortSha(b.good) : '?'} … ${shortSha(b.bad)}`),
    h('td', {}, b.first_bad
      ? [h('span', { class: 'mono' }, shortSha(b.first_bad.commit)), ' ', b.first_bad.subject ?? '']
      : h('span', { class: 'muted' }, '—')),
    h('td', { class: 'muted small' }, stepSummary(b)));
}
