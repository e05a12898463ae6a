// The queue list: newest first, filtered by status, search text, repo, ref,
// commit prefix, profile and whether bisect steps show (all kept in the URL,
// list_filters.js), paged by the API's cursor, refreshed in place every few
// seconds. A failed refresh keeps the last table and says that the gateway
// cannot be reached; the next refresh clears it.

import { listQueues, queueHref, STATUSES } from './api.js';
import { countChips, progressBar, statusBadge } from './badges.js';
import { bisectHref } from './bisect.js';
import { h, replace } from './dom.js';
import {
  formatAge, formatCount, formatDuration, formatTime, queueDurationMs, shortCommit,
} from './format.js';
import {
  describeFilters, filtersFromParams, firstPage, isFiltered, listHash, pageAfter, TEXT_FILTERS,
} from './list_filters.js';
import { shortenMiddle, sourceLabel } from './source.js';

const REFRESH_MS = 2000;
const HIDDEN_REFRESH_MS = 15000;
const PER_PAGE = 50;
const SOURCE_CHARS = 34;

const FIELD_LABELS = {
  q: ['Search', 'id, repo or owner, ref, commit'],
  repo: ['Repo', 'host/owner/name, or a part'],
  ref: ['Ref', 'main'],
  commit: ['Commit', 'prefix'],
  profile: ['Profile', 'qemu-arm'],
};

export function listPage(root, params) {
  const filters = filtersFromParams(params);
  const { status, page } = filters;
  const href = (s, p) => listHash({ ...firstPage(filters), status: s, page: p });

  const updated = h('span', { class: 'muted small', 'data-test': 'updated' });
  const banner = h('div', { class: 'banner banner-error', role: 'alert', hidden: true, 'data-test': 'list-error' });
  const body = h('div', { class: 'card table-card' }, h('p', { class: 'state' }, 'Loading queues…'));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  const statusNav = h('nav', { class: 'filters', 'aria-label': 'Filter by status', 'data-test': 'filters' },
    [null, ...STATUSES].map((s) => h('a', {
      class: `filter${s === status ? ' active' : ''}`,
      href: href(s, 1),
      'aria-current': s === status ? 'page' : null,
      'data-filter': s ?? 'All',
    }, s ?? 'All')),
    // Bisect step queues are left out unless asked for (the API's default).
    h('a', {
      class: `filter filter-toggle${filters.bisect ? ' active' : ''}`,
      href: listHash({ ...firstPage(filters), bisect: filters.bisect ? null : 'include' }),
      'aria-pressed': String(Boolean(filters.bisect)),
      title: filters.bisect ? 'Hide the queues bisects ran' : 'Show the queues bisects ran',
      'data-test': 'bisect-steps-toggle',
    }, 'Bisect steps'));
  const inputs = Object.fromEntries(TEXT_FILTERS.map((key) => [key, h('input', {
    type: key === 'q' ? 'search' : 'text',
    name: key,
    value: filters[key] ?? '',
    placeholder: FIELD_LABELS[key][1],
    autocomplete: 'off',
    spellcheck: 'false',
    'data-filter-input': key,
  })]));
  const search = h('form', {
    class: 'search', role: 'search', 'data-test': 'search',
    onsubmit: (e) => {
      e.preventDefault();
      const next = firstPage(filters);
      for (const key of TEXT_FILTERS) next[key] = inputs[key].value.trim() || null;
      window.location.hash = listHash(next);
    },
  },
  TEXT_FILTERS.map((key) => h('label', { class: `field field-${key}` },
    h('span', { class: 'field-label' }, FIELD_LABELS[key][0]), inputs[key])),
  h('button', { class: 'btn', type: 'submit' }, 'Apply'),
  isFiltered(filters)
    ? h('a', { class: 'btn btn-quiet', href: '#/', 'data-test': 'clear-filters' }, 'Clear')
    : null);

  replace(root,
    h('div', { class: 'page-head' },
      h('h1', {}, status ? `${status} queues` : 'Queues'),
      updated),
    statusNav,
    search,
    banner,
    body,
    pager);
  const title = describeFilters(filters);
  document.title = `${title[0].toUpperCase()}${title.slice(1)} · TestArena`;

  const controller = new AbortController();
  let timer = null;
  let lastOk = null;

  async function refresh() {
    clearTimeout(timer);
    try {
      const data = await listQueues(filters, PER_PAGE, controller.signal);
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

  function render({
    queues, total, total_capped: capped, next_cursor: nextCursor, per_page: perPage,
  }) {
    if (queues.length === 0) {
      replace(body, emptyState(filters, href));
      replace(pager);
      return;
    }
    const now = Date.now();
    replace(body, h('table', { class: 'queues', 'data-test': 'queue-table' },
      h('thead', {}, h('tr', {},
        h('th', {}, 'Queue'), h('th', {}, 'Status'), h('th', {}, 'Results'),
        h('th', { class: 'col-source' }, 'Source'), h('th', { class: 'col-ref' }, 'Ref'),
        h('th', { class: 'col-commit' }, 'Commit'),
        h('th', {}, 'Age'), h('th', { class: 'num' }, 'Duration'))),
      h('tbody', {}, queues.map((q) => row(q, now)))));
    // By cursor, a page knows the next one, not the one before: "Newer"
    // goes back to the newest (the browser's Back to the page before).
    const first = filters.cursor ? filters.from : (page - 1) * perPage + 1;
    const last = first + queues.length - 1;
    const newer = filters.cursor ? listHash(firstPage(filters)) : href(status, page - 1);
    const older = nextCursor ? listHash(pageAfter(filters, nextCursor, last + 1)) : null;
    replace(pager,
      h('a', { class: 'btn btn-small', href: newer, hidden: first <= 1, 'data-test': 'newer' },
        filters.cursor ? '← Newest' : '← Newer'),
      h('span', { class: 'muted small' },
        `${formatCount(first)}–${formatCount(last)} of ${formatCount(total)}${capped ? '+' : ''}`),
      h('a', { class: 'btn btn-small', href: older ?? '#/', hidden: !older, 'data-test': 'older' }, 'Older →'));
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
  const source = sourceLabel(q.source.repo);
  const tr = h('tr', {
    class: 'clickable', 'data-test': 'queue-row', 'data-id': q.id, 'data-status': q.status,
    'data-verdict': q.verdict ?? '',
  },
  h('td', {}, h('a', { class: 'qid mono', href: queueHref(q.id) }, q.id),
    q.cancel_requested && !['Cancelled', 'Finished', 'Error'].includes(q.status)
      ? h('span', { class: 'pill' }, 'cancelling') : null,
    q.bisect
      ? h('a', { class: 'pill', href: bisectHref(q.bisect), title: `a step of bisect ${q.bisect}`, 'data-test': 'row-bisect' }, 'bisect step')
      : null),
  h('td', {}, statusBadge(q)),
  h('td', { class: 'results' }, progressBar(q.counts), countChips(q.counts)),
  h('td', { class: 'col-source' },
    h('span', { class: 'source mono', title: q.source.repo, 'data-test': 'source' },
      shortenMiddle(source, SOURCE_CHARS))),
  h('td', { class: 'col-ref mono', title: q.source.ref }, q.source.ref),
  h('td', { class: 'col-commit mono', title: q.commit ?? 'not checked out yet' }, shortCommit(q.commit)),
  h('td', { title: formatTime(q.submitted_at) }, formatAge(q.submitted_at, now)),
  h('td', { class: 'num' }, formatDuration(queueDurationMs(q, now))));
  tr.addEventListener('click', (e) => {
    if (e.target.closest('a') || window.getSelection()?.toString()) return;
    window.location.hash = queueHref(q.id);
  });
  return tr;
}

function emptyState(filters, href) {
  if (filters.page > 1 || filters.cursor) {
    return h('div', { class: 'state', 'data-test': 'empty' },
      h('p', {}, 'This page is past the last queue.'),
      h('a', { class: 'btn', href: href(filters.status, 1) }, 'First page'));
  }
  if (isFiltered(filters)) {
    return h('div', { class: 'state', 'data-test': 'empty' },
      h('p', { class: 'state-title' }, `No ${describeFilters(filters)}.`),
      h('a', { class: 'btn', href: '#/' }, 'Show all queues'));
  }
  return h('div', { class: 'state', 'data-test': 'empty' },
    h('p', { class: 'state-title' }, 'No queues yet.'),
    h('p', { class: 'muted' }, 'Submit one with ',
      h('code', {}, 'testarena submit queue.json'), ' or ',
      h('code', {}, 'POST /api/queue'), ' — see the ',
      h('a', { href: '/docs', target: '_blank', rel: 'noopener' }, 'API docs'), '.'));
}
