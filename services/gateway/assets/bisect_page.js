// One bisect (`#/bisect/<id>`): its status and reason, the culprit with its
// subject and author, the range as a line of commits coloured by each
// step's verdict (bisect.js decides the items and tones), each step's
// queues linked, and Cancel / Delete. Re-read every few seconds until the
// bisect has ended.

import { cancelBisect, deleteBisect, getBisect, queueHref } from './api.js';
import { bisectStatus, commitLine, shortSha, stepSummary } from './bisect.js';
import { h, replace } from './dom.js';

const POLL_MS = 2000;
const RETRY_MS = 3000;

export function bisectPage(root, id, ctx) {
  document.title = `Bisect ${id} · TestArena`;
  const controller = new AbortController();
  let timer = null;
  let bisect = null;

  const title = h('div', { class: 'title-line' });
  const banner = h('div', { class: 'banner', hidden: true, 'data-test': 'bisect-reason' });
  const error = h('div', { class: 'banner banner-error', role: 'alert', hidden: true, 'data-test': 'bisect-error' });
  const culprit = h('section', { class: 'card', 'aria-label': 'First bad commit', 'data-test': 'culprit' });
  const line = h('section', { class: 'card', 'aria-label': 'Range' });
  const meta = h('dl', { class: 'meta' });
  const cancelButton = h('button', {
    class: 'btn btn-warn', type: 'button', 'data-test': 'bisect-cancel', hidden: true, onclick: () => cancel(),
  }, 'Cancel');
  const deleteButton = h('button', {
    class: 'btn btn-danger', type: 'button', 'data-test': 'bisect-delete', onclick: () => remove(),
  }, 'Delete');
  replace(root, crumbs(id),
    h('div', { class: 'queue-head' }, title, h('div', { class: 'actions' }, cancelButton, deleteButton)),
    error, banner, culprit, line, h('section', { class: 'card', 'aria-label': 'Details' }, meta));
  replace(title, h('h1', { class: 'mono' }, id));
  replace(line, h('p', { class: 'state' }, 'Loading…'));

  async function refresh() {
    clearTimeout(timer);
    try {
      bisect = await getBisect(id, controller.signal);
      error.hidden = true;
      render();
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e.isNotFound) return showMissing();
      error.hidden = false;
      replace(error, h('strong', {}, 'Could not load this bisect. '), `${e.message}. Retrying…`);
      timer = setTimeout(refresh, RETRY_MS);
      return;
    }
    if (!bisectStatus(bisect).ended && !controller.signal.aborted) timer = setTimeout(refresh, POLL_MS);
  }

  function render() {
    const status = bisectStatus(bisect);
    document.title = `Bisect ${id} · ${status.text} · TestArena`;
    const cancelling = bisect.cancel_requested && !status.ended;
    replace(title, h('h1', { class: 'mono' }, id),
      h('span', { class: `badge tone-${status.tone}`, 'data-test': 'bisect-status', 'data-status': status.text }, status.text),
      cancelling ? h('span', { class: 'pill', 'data-test': 'cancelling' }, 'cancelling…') : null);
    cancelButton.hidden = status.ended;
    cancelButton.disabled = cancelling;
    banner.hidden = !bisect.reason;
    banner.className = `banner ${bisect.status === 'Error' ? 'banner-error' : 'banner-warn'}`;
    if (bisect.reason) replace(banner, h('strong', {}, `${bisect.status}: `), bisect.reason);
    renderCulprit();
    const items = commitLine(bisect);
    replace(line, h('h2', {}, `Range · ${stepSummary(bisect)}`),
      h('ol', { class: 'commit-line', 'data-test': 'commit-line' }, items.map(commitItem)));
    replace(meta,
      item('Good', bisect.good ? h('span', { class: 'mono', title: bisect.good }, shortSha(bisect.good))
        : h('span', { class: 'muted' }, 'looking for one (walking back from bad)')),
      item('Bad', h('span', { class: 'mono', title: bisect.bad }, shortSha(bisect.bad)),
        bisect.bad_ref && !bisect.bad.startsWith(bisect.bad_ref) ? h('span', { class: 'muted' }, ` (${bisect.bad_ref})`) : null),
      item('Profile', bisect.profile ?? h('span', { class: 'muted' }, 'worker default')),
      bisect.source?.repo ? item('Source', h('span', { class: 'mono break' }, bisect.source.repo)) : null,
      bisect.tasks?.length ? item('Tasks', bisect.tasks.map((t) => t.id).join(', ')) : null,
      bisect.case ? item('By case', h('span', { class: 'mono break', 'data-test': 'bisect-case' }, bisect.case)) : null,
      bisect.runs_per_step ? item('Runs per step', String(bisect.runs_per_step)) : null);
  }

  function renderCulprit() {
    const first = bisect.first_bad;
    if (!first) {
      const waiting = bisect.status === 'Running' ? 'Not found yet.' : 'No culprit was found.';
      replace(culprit, h('h2', {}, 'First bad commit'), h('p', { class: 'muted', 'data-test': 'no-culprit' }, waiting));
      return;
    }
    replace(culprit, h('h2', {}, 'First bad commit'),
      h('p', { class: 'culprit' },
        h('span', { class: 'mono', 'data-test': 'culprit-commit', title: first.commit }, shortSha(first.commit)), ' ',
        h('strong', { 'data-test': 'culprit-subject' }, first.subject ?? '')),
      h('p', { class: 'muted', 'data-test': 'culprit-author' }, first.author ? `by ${first.author}` : ''));
  }

  async function cancel() {
    if (!window.confirm(`Cancel bisect ${id}?\n\nIts running step queues are stopped.`)) return;
    cancelButton.disabled = true;
    try {
      await cancelBisect(id);
      ctx.flash(`Cancel requested for bisect ${id}.`);
    } catch (e) {
      cancelButton.disabled = false;
      ctx.flash(`Could not cancel bisect ${id}: ${e.message}`, 'error');
    }
    refresh();
  }

  async function remove() {
    if (!window.confirm(`Delete bisect ${id}?\n\nIts record is removed; its step queues stay.`)) return;
    deleteButton.disabled = true;
    try {
      await deleteBisect(id);
      ctx.flash(`Deleted bisect ${id}.`);
      window.location.hash = '#/bisects';
    } catch (e) {
      deleteButton.disabled = false;
      ctx.flash(`Could not delete bisect ${id}: ${e.message}`, 'error');
    }
  }

  function showMissing() {
    document.title = 'Not found · TestArena';
    replace(root, crumbs(id), h('div', { class: 'state', role: 'alert', 'data-test': 'not-found' },
      h('p', { class: 'state-title' }, `No bisect with id ${id}.`),
      h('p', { class: 'muted' }, 'It may have been deleted, or the link is mistyped.'),
      h('a', { class: 'btn', href: '#/bisects' }, 'All bisects')));
  }

  refresh();
  return {
    destroy() {
      controller.abort();
      clearTimeout(timer);
    },
  };
}

/** One commit of the line: a dot in its tone, its short SHA, its marks and its step's queues. */
function commitItem(c) {
  const verdict = c.verdict ?? (c.tone === 'running' ? 'running' : 'untested');
  const words = c.majority ? `${verdict} (${c.majority})` : verdict;
  return h('li', {
    class: `commit commit-${c.tone}`, 'data-commit': c.commit, 'data-verdict': verdict, 'data-tone': c.tone,
    title: [c.commit, c.subject, c.author].filter(Boolean).join('\n'),
  },
  h('span', { class: 'commit-dot', 'aria-hidden': 'true' }),
  h('span', { class: 'mono commit-sha' }, c.short),
  c.subject ? h('span', { class: 'commit-subject small', 'data-test': 'commit-subject' }, c.subject) : null,
  c.author ? h('span', { class: 'commit-author small muted' }, c.author.replace(/\s*<[^>]*>$/, '')) : null,
  h('span', { class: 'commit-verdict small' }, words),
  c.marks.map((m) => h('span', { class: `pill commit-mark mark-${m.replace(' ', '-')}`, 'data-mark': m }, m)),
  c.queues.length ? h('span', { class: 'commit-queues small' },
    c.queues.map((q) => h('a', { href: queueHref(q.id), title: q.id, 'data-test': 'step-queue', 'data-queue': q.id }, q.label))) : null);
}

function crumbs(id) {
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('a', { href: '#/bisects' }, 'Bisects'), h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { class: 'mono' }, id));
}

function item(label, ...value) {
  return h('div', { class: 'meta-item' }, h('dt', {}, label), h('dd', {}, ...value));
}
