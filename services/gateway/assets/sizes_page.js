// Firmware size over the commits of one repository and profile
// (`#/sizes?repo=...&profile=...`): an inline SVG line per section sum
// (geometry in size_chart.js) and the entries as a table, newest first.

import { getSizes, queueHref } from './api.js';
import { h, replace, svg } from './dom.js';
import { formatBytes, formatTime } from './format.js';
import {
  chartGeometry, latestChange, polylinePoints, SERIES,
} from './size_chart.js';

export function sizesPage(root, params) {
  const repo = params.get('repo') ?? '';
  const profile = params.get('profile') ?? '';
  const controller = new AbortController();
  document.title = 'Firmware size · TestArena';
  const head = h('div', { class: 'queue-head' },
    h('div', { class: 'title-line' }, h('h1', {}, 'Firmware size')),
    h('p', { class: 'muted break' }, repo, profile ? ` · profile ${profile}` : ' · every profile'));
  replace(root, crumbs(), head, h('p', { class: 'state' }, 'Loading…'));
  if (!repo) {
    replace(root, crumbs(), head, h('p', { class: 'state', 'data-test': 'sizes-empty' },
      'Open this page from a queue that measured its firmware.'));
    return { destroy() {} };
  }
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
  return h('section', { class: 'card', 'aria-label': 'Sizes per commit' },
    h('table', { class: 'sizes-table', 'data-test': 'sizes-table' },
      h('thead', {}, h('tr', {}, ['Commit', 'Queue', 'Profile', 'Measured', 'text', 'data', 'bss'].map((c) => h('th', {}, c)))),
      h('tbody', {}, sizes.map((e) => h('tr', {},
        h('td', { class: 'mono' }, e.commit ? e.commit.slice(0, 12) : '—'),
        h('td', {}, h('a', { href: queueHref(e.queue_id) }, e.queue_id)),
        h('td', {}, e.profile),
        h('td', {}, formatTime(e.measured_at)),
        SERIES.map((name) => h('td', { class: 'num' }, String(e[name]))))))));
}
