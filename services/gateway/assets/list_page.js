// The queue list: newest first, filtered by status, paginated, refreshed in
// place every few seconds. A failed refresh keeps the last table and says
// that the gateway cannot be reached; the next refresh clears it.

import { listQueues, queueHref, STATUSES } from './api.js';
import { countChips, progressBar, statusBadge } from './badges.js';
import { h, replace } from './dom.js';
import {
  formatAge, formatCount, formatDuration, formatTime, queueDurationMs, repoName, shortCommit,
} from './format.js';

const REFRESH_MS = 2000;
const HIDDEN_REFRESH_MS = 15000;
const PER_PAGE = 50;

export function listPage(root, params) {
  const status = STATUSES.includes(params.get('status')) ? params.get('status') : null;
  const page = Math.max(1, Number.parseInt(params.get('page') ?? '1', 10) || 1);
  const href = (s, p) => {
    const q = new URLSearchParams();
    if (s) q.set('status', s);
    if (p > 1) q.set('page', String(p));
    const text = q.toString();
    return text ? `#/?${text}` : '#/';
  };

  const updated = h('span', { class: 'muted small', 'data-test': 'updated' });
  const banner = h('div', { class: 'banner banner-error', role: 'alert', hidden: true, 'data-test': 'list-error' });
  const body = h('div', { class: 'card table-card' }, h('p', { class: 'state' }, 'Loading queues…'));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  const filters = h('nav', { class: 'filters', 'aria-label': 'Filter by status', 'data-test': 'filters' },
    [null, ...STATUSES].map((s) => h('a', {
      class: `filter${s === status ? ' active' : ''}`,
      href: href(s, 1),
      'aria-current': s === status ? 'page' : null,
      'data-filter': s ?? 'All',
    }, s ?? 'All')));

  replace(root,
    h('div', { class: 'page-head' },
      h('h1', {}, status ? `${status} queues` : 'Queues'),
      updated),
    filters,
    banner,
    body,
    pager);
  document.title = status ? `${status} queues · TestArena` : 'Queues · TestArena';

  const controller = new AbortController();
  let timer = null;
  let lastOk = null;

  async function refresh() {
    clearTimeout(timer);
    try {
      const data = await listQueues({ status, page, perPage: PER_PAGE }, controller.signal);
      lastOk = Date.now();
      banner.hidden = true;
      render(data);
    } catch (e) {
      if (e.name === 'AbortError') return;
      banner.hidden = false;
      replace(banner,
        h('strong', {}, e.isNetwork ? 'Disconnected. ' : 'Could not load the queues. '),
        `${e.message}. Retrying every ${REFRESH_MS / 1000} s…`);
      if (lastOk === null) replace(body, h('p', { class: 'state' }, 'No data yet.'));
    }
    updated.textContent = lastOk === null ? '' : `Updated ${formatAge(new Date(lastOk).toISOString())}`;
    if (!controller.signal.aborted) {
      timer = setTimeout(refresh, document.hidden ? HIDDEN_REFRESH_MS : REFRESH_MS);
    }
  }

  function render({ queues, total, per_page: perPage }) {
    if (queues.length === 0) {
      replace(body, emptyState(status, page, href));
      replace(pager);
      return;
    }
    const now = Date.now();
    replace(body, h('table', { class: 'queues', 'data-test': 'queue-table' },
      h('thead', {}, h('tr', {},
        h('th', {}, 'Queue'), h('th', {}, 'Status'), h('th', {}, 'Results'),
        h('th', { class: 'col-source' }, 'Source'), h('th', { class: 'col-commit' }, 'Commit'),
        h('th', {}, 'Age'), h('th', { class: 'num' }, 'Duration'))),
      h('tbody', {}, queues.map((q) => row(q, now)))));
    const first = (page - 1) * perPage + 1;
    const last = first + queues.length - 1;
    replace(pager,
      h('a', { class: 'btn btn-small', href: href(status, page - 1), hidden: page <= 1 }, '← Newer'),
      h('span', { class: 'muted small' }, `${formatCount(first)}–${formatCount(last)} of ${formatCount(total)}`),
      h('a', { class: 'btn btn-small', href: href(status, page + 1), hidden: last >= total }, 'Older →'));
  }

  const onVisible = () => { if (!document.hidden) refresh(); };
  document.addEventListener('visibilitychange', onVisible);
  refresh();

  return {
    destroy() {
      controller.abort();
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    },
  };
}

function row(q, now) {
  const tr = h('tr', { class: 'clickable', 'data-test': 'queue-row', 'data-id': q.id, 'data-status': q.status },
    h('td', {}, h('a', { class: 'qid mono', href: queueHref(q.id) }, q.id),
      q.cancel_requested && !['Cancelled', 'Finished', 'Error'].includes(q.status)
        ? h('span', { class: 'pill' }, 'cancelling') : null),
    h('td', {}, statusBadge(q)),
    h('td', { class: 'results' }, progressBar(q.counts), countChips(q.counts)),
    h('td', { class: 'col-source', title: `${q.source.repo} @ ${q.source.ref}` },
      h('span', {}, repoName(q.source.repo)), h('span', { class: 'muted' }, ` @ ${q.source.ref}`)),
    h('td', { class: 'col-commit mono', title: q.commit ?? 'not checked out yet' }, shortCommit(q.commit)),
    h('td', { title: formatTime(q.submitted_at) }, formatAge(q.submitted_at, now)),
    h('td', { class: 'num' }, formatDuration(queueDurationMs(q, now))));
  tr.addEventListener('click', (e) => {
    if (e.target.closest('a') || window.getSelection()?.toString()) return;
    window.location.hash = queueHref(q.id);
  });
  return tr;
}

function emptyState(status, page, href) {
  if (page > 1) {
    return h('div', { class: 'state', 'data-test': 'empty' },
      h('p', {}, 'This page is past the last queue.'),
      h('a', { class: 'btn', href: href(status, 1) }, 'First page'));
  }
  if (status) {
    return h('div', { class: 'state', 'data-test': 'empty' },
      h('p', { class: 'state-title' }, `No ${status.toLowerCase()} queues.`),
      h('a', { class: 'btn', href: '#/' }, 'Show all queues'));
  }
  return h('div', { class: 'state', 'data-test': 'empty' },
    h('p', { class: 'state-title' }, 'No queues yet.'),
    h('p', { class: 'muted' }, 'Submit one with ',
      h('code', {}, 'testarena submit queue.json'), ' or ',
      h('code', {}, 'POST /api/queue'), ' — see the ',
      h('a', { href: '/docs', target: '_blank', rel: 'noopener' }, 'API docs'), '.'));
}
