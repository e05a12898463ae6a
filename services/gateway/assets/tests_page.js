// The Tests page (`#/tests?state=flaky&repo=...&profile=...&q=uart`): the
// tests in pages of 100 (`cursor` in the URL), each with its last runs as
// a strip of dots, its flip rate, a small duration trend (inline SVG), a
// quarantine toggle, and its name linking to its own page (test_page.js).
// Filters live in the URL (test_history.js); the page refreshes in place
// every few seconds.

import { listTests, setQuarantine } from './api.js';
import { h, replace, svg } from './dom.js';
import { formatAge, formatCount, formatDuration } from './format.js';
import { sourceLabel, shortenMiddle } from './source.js';
import {
  flipPercent, stripDots, testFiltersFromParams, testHref, testName, testsHash, trendPoints,
} from './test_history.js';

const REFRESH_MS = 5000;
const DOT = 8;
const TREND = { width: 120, height: 24 };

export function testsPage(root, params, ctx) {
  const filters = testFiltersFromParams(params);
  const body = h('div', { class: 'card table-card' }, h('p', { class: 'state' }, 'Loading tests…'));
  const banner = h('div', { class: 'banner banner-error', role: 'alert', hidden: true, 'data-test': 'tests-error' });
  const nav = h('nav', { class: 'filters', 'aria-label': 'Filter by state', 'data-test': 'test-filters' },
    [['flaky', 'Flaky'], ['failing', 'Failing'], ['new', 'New'], [null, 'All']].map(([state, label]) => h('a', {
      class: `filter${state === filters.state ? ' active' : ''}`,
      href: testsHash({ ...filters, state }),
      'aria-current': state === filters.state ? 'page' : null,
      'data-filter': state ?? 'all',
    }, label)));
  const field = (name, label, placeholder) => {
    const input = h('input', {
      type: 'search', name, value: filters[name] ?? '', placeholder,
      autocomplete: 'off', spellcheck: 'false', 'data-test': `test-${name === 'q' ? 'search' : name}`,
    });
    return [input, h('label', { class: `field field-${name}` }, h('span', { class: 'field-label' }, label), input)];
  };
  const [input, qField] = field('q', 'Search', 'task or case name');
  const [repoInput, repoField] = field('repo', 'Repository', 'URL, exactly');
  const [profileInput, profileField] = field('profile', 'Profile', 'name, exactly');
  const search = h('form', {
    class: 'search', role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      const value = (el) => el.value.trim() || null;
      window.location.hash = testsHash({
        ...filters, q: value(input), repo: value(repoInput), profile: value(profileInput), cursor: null,
      });
    },
  }, qField, repoField, profileField, h('button', { class: 'btn', type: 'submit' }, 'Apply'));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages', 'data-test': 'test-pager' });

  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Tests')), nav, search, banner, body, pager);
  document.title = 'Tests · TestArena';

  const controller = new AbortController();
  let timer = null;

  async function refresh() {
    clearTimeout(timer);
    try {
      const {
        tests, total, total_capped: capped, next_cursor: next,
      } = await listTests(filters, controller.signal);
      banner.hidden = true;
      render(tests);
      renderPager(total, capped, tests.length, next);
    } catch (e) {
      if (e.name === 'AbortError') return;
      banner.hidden = false;
      replace(banner, h('strong', {}, 'Could not load the tests. '), e.message);
    }
    if (!controller.signal.aborted) timer = setTimeout(refresh, REFRESH_MS);
  }

  async function toggle(test) {
    const on = !test.quarantined;
    let reason = null;
    if (on) {
      reason = window.prompt(`Quarantine ${testName(test)}?\n\nIt still runs and is recorded, but its failures no longer fail a queue. Why?`);
      if (!reason?.trim()) return;
    } else if (!window.confirm(`End the quarantine of ${testName(test)}?`)) {
      return;
    }
    try {
      await setQuarantine(test, on, reason);
      ctx.flash(on ? `${testName(test)} is quarantined.` : `${testName(test)} is no longer quarantined.`);
    } catch (e) {
      ctx.flash(`Could not change the quarantine: ${e.message}`, 'error');
    }
    refresh();
  }

  function render(tests) {
    if (!tests.length) {
      const filtered = filters.state || filters.q || filters.repo || filters.profile || filters.cursor;
      replace(body, h('div', { class: 'state', 'data-test': 'empty' },
        h('p', { class: 'state-title' }, filtered ? 'No tests match.' : 'No test has run yet.')));
      return;
    }
    replace(body, h('table', { class: 'tests', 'data-test': 'test-table' },
      h('thead', {}, h('tr', {},
        h('th', {}, 'Test'), h('th', {}, 'State'), h('th', {}, 'Last runs'),
        h('th', { class: 'num' }, 'Flip rate'), h('th', {}, 'Duration'), h('th', {}, 'Last failure'),
        h('th', {}, 'Quarantine'))),
      h('tbody', {}, tests.map((t) => row(t, () => toggle(t))))));
  }

  // Past 10,000 the API counts no further: "10,000+".
  function renderPager(total, capped, shown, next) {
    replace(pager,
      h('span', { class: 'muted small', 'data-test': 'test-total' },
        `${shown} of ${formatCount(total)}${capped ? '+' : ''} test${total === 1 && !capped ? '' : 's'}`),
      filters.cursor ? h('a', { class: 'btn btn-small', href: testsHash({ ...filters, cursor: null }), 'data-test': 'first-page' }, 'First page') : null,
      next ? h('a', { class: 'btn btn-small', href: testsHash({ ...filters, cursor: next }), 'data-test': 'next-page' }, 'Next page') : null);
  }

  refresh();
  return {
    destroy() {
      controller.abort();
      clearTimeout(timer);
    },
  };
}

function row(t, onToggle) {
  return h('tr', {
    'data-test': 'test-row', 'data-task': t.task, 'data-case': t.case ?? '', 'data-state': t.state,
    'data-quarantined': String(t.quarantined),
  },
  h('td', {},
    h('a', { class: 'test-name mono', href: testHref(t), 'data-test': 'test-link' }, testName(t)),
    h('div', { class: 'muted small', title: t.repo },
      shortenMiddle(sourceLabel(t.repo), 40), t.profile ? ` · ${t.profile}` : '')),
  h('td', {}, h('span', { class: `badge state-${t.state}`, 'data-test': 'test-state' }, t.state),
    t.quarantined ? h('span', { class: 'badge res-quarantined', title: t.quarantine_reason ?? '' }, 'quarantined') : null),
  h('td', {}, strip(t.recent)),
  h('td', { class: 'num', 'data-test': 'flip-rate' }, flipPercent(t.flip_rate)),
  h('td', { title: `p50 ${formatDuration(t.duration_ms_p50)}, p95 ${formatDuration(t.duration_ms_p95)}` },
    trend(t.recent), h('span', { class: 'muted small' }, ` ${formatDuration(t.duration_ms_p50)}`)),
  h('td', { class: 'muted small' }, t.last_failure_at ? formatAge(t.last_failure_at) : '—'),
  h('td', {}, h('button', {
    class: `btn btn-small${t.quarantined ? ' active' : ''}`, type: 'button', 'data-test': 'quarantine-toggle',
    'aria-pressed': String(t.quarantined), title: t.quarantine_reason ?? 'Quarantine this test', onclick: onToggle,
  }, t.quarantined ? 'Quarantined' : 'Quarantine')));
}

/** The last runs as dots, oldest on the left. */
function strip(recent) {
  const dots = stripDots(recent);
  return svg('svg', {
    class: 'strip', width: Math.max(1, dots.length) * DOT, height: DOT, role: 'img',
    'aria-label': `${dots.length} runs`, 'data-test': 'strip',
  }, dots.map((d, i) => svg('circle', {
    class: `dot dot-${d.tone}`, cx: i * DOT + DOT / 2, cy: DOT / 2, r: DOT / 2 - 1, 'data-tone': d.tone,
  }, svg('title', {}, d.title))));
}

/** Durations of the last runs as a small line. */
function trend(recent) {
  const points = trendPoints(recent, TREND.width, TREND.height);
  return svg('svg', {
    class: 'trend', width: TREND.width, height: TREND.height, role: 'img',
    'aria-label': 'duration trend', 'data-test': 'trend',
  }, points ? svg('polyline', { points, fill: 'none' }) : null);
}
