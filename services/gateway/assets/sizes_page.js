// Firmware size over the commits of one repository and profile
// (`#/sizes?repo=...&profile=...`, a picker of every measured one): an
// inline SVG line per section sum (geometry in size_chart.js), x in commit
// order, and the entries as a table, newest first, with the budget's use.

import { getSizeSources, getSizes, queueHref, sizesHref } from './api.js';
import { h, replace, svg } from './dom.js';
import { formatBytes, formatTime } from './format.js';
import {
  budgetUse, chartGeometry, latestChange, polylinePoints, SERIES,
} from './size_chart.js';

export function sizesPage(root, params) {
  const repo = params.get('repo') ?? '';
  const profile = params.get('profile') ?? '';
  const controller = new AbortController();
  document.title = 'Firmware size · TestArena';
  const picker = h('div', { class: 'filters', 'data-test': 'size-picker' });
  const head = h('div', { class: 'queue-head' },
    h('div', { class: 'title-line' }, h('h1', {}, 'Firmware size')), picker);
  replace(root, crumbs(), head, h('p', { class: 'state' }, 'Loading…'));
  getSizeSources(controller.signal).then(({ sources }) => {
    const chosen = sources.find((s) => s.repo === repo && (!profile || s.profile === profile));
    if (!repo && sources.length) {
      // The page from the navigation: the latest measured repository.
      window.location.replace(sizesHref(sources[0].repo, sources[0].profile));
      return;
    }
    replace(picker, sourcePicker(sources, chosen ?? { repo, profile }));
    if (!repo) {
      replace(root, crumbs(), head, h('p', { class: 'state', 'data-test': 'sizes-empty' },
        'No queue has measured its firmware yet: give a profile an `elf`.'));
    }
  }).catch((e) => {
    if (e.name !== 'AbortError') replace(picker, h('span', { class: 'muted' }, e.message));
  });
  if (!repo) return { destroy() { controller.abort(); } };
  getSizes(repo, profile, controller.signal).then((answer) => {
    const sizes = answer.sizes;
    replace(root, crumbs(), head, sizes.length
      ? [chartCard(sizes), table(sizes)]
      : h('p', { class: 'state', 'data-test': 'sizes-empty' }, 'No queue of this repository measured its firmware yet.'));
  }).catch((e) => {
    if (e.name === 'AbortError') return;
    replace(root, crumbs(), head, h('div', { class: 'state state-error', role: 'alert' }, e.message));
  });
  return { destroy() { controller.abort(); } };
}

/** A select of every measured repository · profile; choosing one opens its trend. */
function sourcePicker(sources, chosen) {
  const key = (s) => JSON.stringify([s.repo, s.profile ?? '']);
  const select = h('select', {
    'aria-label': 'Repository and profile', 'data-test': 'size-source',
    onchange: (e) => {
      const [repo, profile] = JSON.parse(e.currentTarget.value);
      window.location.hash = sizesHref(repo, profile);
    },
  }, sources.map((s) => h('option', { value: key(s) }, `${s.repo} · ${s.profile} (${s.commits} commits)`)));
  if (chosen.repo && !sources.some((s) => key(s) === key(chosen))) {
    select.append(h('option', { value: key(chosen) }, `${chosen.repo} · ${chosen.profile || 'every profile'}`));
  }
  select.value = key(chosen);
  return h('label', {}, 'Repository ', select);
}

function crumbs() {
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('a', { href: '#/' }, 'Queues'), ' / ', h('span', {}, 'Firmware size'));
}

function chartCard(sizes) {
  const g = chartGeometry(sizes);
  const chart = svg('svg', {
    class: 'size-chart', viewBox: `0 0 ${g.width} ${g.height}`, role: 'img',
    'aria-label': `text, data and bss over ${sizes.length} commits`, 'data-test': 'size-chart',
  },
  svg('line', { class: 'axis', x1: 36, x2: g.width - 36, y1: g.baseline, y2: g.baseline }),
  svg('text', { class: 'axis-label', x: 4, y: 40 }, formatBytes(g.top)),
  svg('text', { class: 'axis-label', x: 4, y: g.baseline }, '0'),
  g.labels.map((l) => svg('text', { class: 'axis-label', x: l.x, y: g.height - 8, 'text-anchor': 'middle' }, l.text)),
  g.series.map((s) => svg('g', { class: `series series-${s.name}`, 'data-series': s.name },
    svg('polyline', { points: polylinePoints(s.points), fill: 'none' }),
    s.points.map((p) => svg('circle', { cx: p.x, cy: p.y, r: 3 },
      svg('title', {}, `${s.name} ${p.value} B at ${p.commit ?? '?'}`))))));
  const legend = h('ul', { class: 'legend' }, SERIES.map((name) => h('li', { class: `series-${name}` },
    h('span', { class: 'swatch' }), `${name} ${sizes[0][name]} B`,
    latestChange(sizes, name) ? h('span', { class: 'muted' }, ` (${latestChange(sizes, name)})`) : null)));
  return h('section', { class: 'card', 'aria-label': 'Size trend' }, chart, legend);
}

function table(sizes) {
  const withBudget = sizes.some((e) => e.flash_budget || e.ram_budget);
  const heads = ['Commit', 'Queue', 'Profile', 'Measured', 'text', 'data', 'bss', ...(withBudget ? ['flash', 'ram'] : [])];
  return h('section', { class: 'card', 'aria-label': 'Sizes per commit' },
    h('table', { class: 'sizes-table', 'data-test': 'sizes-table' },
      h('thead', {}, h('tr', {}, heads.map((c) => h('th', {}, c)))),
      h('tbody', {}, sizes.map((e) => h('tr', { 'data-commit': e.commit ?? '' },
        h('td', { class: 'mono', title: e.first_parent_depth === null || e.first_parent_depth === undefined ? '' : `commit ${e.first_parent_depth + 1} of its branch` },
          e.commit ? e.commit.slice(0, 12) : '—'),
        h('td', {}, h('a', { href: queueHref(e.queue_id) }, e.queue_id)),
        h('td', {}, e.profile),
        h('td', {}, formatTime(e.measured_at)),
        SERIES.map((name) => h('td', { class: 'num' }, String(e[name]))),
        withBudget ? budgetCells(e) : null)))));
}

/** flash and ram as % of the budget, over it in the bad tone. */
function budgetCells(entry) {
  const use = budgetUse(entry, entry);
  return ['flash', 'ram'].map((part) => {
    const u = use[part];
    if (!u) return h('td', { class: 'num muted' }, '—');
    return h('td', {
      class: `num ${u.over ? 'tone-bad' : ''}`, 'data-budget': part, title: `${u.used} of ${u.budget} bytes`,
    }, `${u.percent} %`);
  });
}
