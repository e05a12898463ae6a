// One board (`#/board/<worker>/<board>`): its facts from `GET /api/boards`
// (state, labels, queue, reservation, health), Reserve (minutes and a
// reason) or Release, Power on/off/cycle for the reserver, its history
// (`GET .../history`: the queues it ran and its changes with who and when)
// and its live console (board_console.js). Which token the page speaks for
// it learns from the console's hello; until then any reserved board may be
// its own, and the server's 403/409 message goes to the flash.

import { boardHistory, listBoards, powerBoard, queueHref, releaseBoard, reserveBoard } from './api.js';
import { boardConsole } from './board_console.js';
import { boardChangeText, canPower, consoleNote, reservedText, reserveRequest } from './boards.js';
import { health, queueLink, reservation, stateBadge } from './boards_page.js';
import { h, replace } from './dom.js';
import { formatAge, formatTime } from './format.js';

const REFRESH_MS = 2000;
/** Changes and runs shown; the rest are on `GET .../history`. */
const HISTORY_SHOWN = 30;
const POWER = [['on', 'Power on'], ['off', 'Power off'], ['cycle', 'Power cycle']];

export function boardPage(root, { worker, board }, ctx) {
  document.title = `${worker}/${board} · Boards · TestArena`;
  const banner = h('div', { class: 'banner banner-error', role: 'alert', hidden: true, 'data-test': 'board-error' });
  const title = h('div', { class: 'title-line' }, h('h1', { class: 'mono' }, `${worker}/${board}`));
  const meta = h('dl', { class: 'meta' }, h('p', { class: 'muted' }, 'Loading…'));
  const actions = h('div', { class: 'board-actions', 'data-test': 'board-actions' });
  const history = h('section', { class: 'card', 'aria-label': 'History', 'data-test': 'board-history' },
    h('h2', {}, 'History'), h('p', { class: 'muted' }, 'Loading…'));
  /** This page's token name, once the console's hello said it. */
  let me = null;
  /** The board as the last answer showed it: undefined before one, null when no worker has it. */
  let lastView;
  const terminal = boardConsole(worker, board, {
    onHello(token) {
      me = token ?? null;
      if (lastView !== undefined) renderFacts(lastView);
    },
  });
  replace(root, crumbs(worker, board), h('div', { class: 'queue-head' }, title), banner,
    h('div', { class: 'board-grid' },
      h('div', { class: 'queue-side' },
        h('section', { class: 'card', 'aria-label': 'Board' }, meta),
        h('section', { class: 'card', 'aria-label': 'Reservation and power' }, h('h2', {}, 'Reservation and power'), actions),
        history),
      terminal.element));
  terminal.start();

  const controller = new AbortController();
  let timer = null;
  let shownActions = null;

  /** `words(answer)`: what the flash says; a power command that failed (`ok: false`) is an error. */
  async function act(promise, words) {
    try {
      const answer = await promise;
      ctx.flash(words(answer), answer?.ok === false ? 'error' : 'info');
    } catch (e) {
      if (e.name !== 'AbortError') ctx.flash(e.message, 'error');
    }
    refresh();
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const [{ boards }, past] = await Promise.all([
        listBoards(controller.signal),
        boardHistory(worker, board, controller.signal).catch((e) => (e.isNotFound ? null : Promise.reject(e))),
      ]);
      banner.hidden = true;
      lastView = boards.find((b) => b.worker === worker && b.name === board) ?? null;
      renderFacts(lastView);
      renderHistory(past);
    } catch (e) {
      if (e.name === 'AbortError') return;
      banner.hidden = false;
      replace(banner, h('strong', {}, 'Could not load the board. '), `${e.message}.`);
    }
    if (!controller.signal.aborted) timer = setTimeout(refresh, REFRESH_MS);
  }

  function renderFacts(view) {
    replace(title, h('h1', { class: 'mono' }, `${worker}/${board}`), view ? stateBadge(view) : null);
    terminal.setNote(consoleNote(view?.reserved_by ?? null, me));
    if (!view) {
      replace(meta, h('div', { class: 'meta-item meta-wide', 'data-test': 'board-missing' },
        h('dt', {}, 'Board'), h('dd', {}, `No worker declares a board ${board} on ${worker} now.`)));
      replace(actions);
      shownActions = null;
      return;
    }
    replace(meta,
      item('State', stateBadge(view), view.reason ? h('div', { class: 'muted small' }, view.reason) : null),
      item('Queue', queueLink(view.queue)),
      item('Labels', view.labels.length === 0 ? '—' : view.labels.map((l) => h('span', { class: 'pill mono' }, l))),
      item('Health', health(view), view.health?.ok ? h('div', { class: 'muted small' }, view.health.message) : null),
      h('div', { class: 'meta-item meta-wide' }, h('dt', {}, 'Reserved'), h('dd', {}, reservation(view))));
    // Rebuilt only when who holds it (or who the page is) changes, so a
    // half-typed reason survives the refresh.
    const key = JSON.stringify([view.reserved_by, me]);
    if (key !== shownActions) {
      shownActions = key;
      replace(actions, view.reserved_by ? releaseRow(view) : reserveForm(), powerRow(view));
    }
  }

  function reserveForm() {
    const minutes = h('input', { type: 'number', min: '1', step: '1', value: '30', 'data-test': 'reserve-minutes' });
    const reason = h('input', { type: 'text', placeholder: 'why (others see it)', 'data-test': 'reserve-reason' });
    // `novalidate`: reserveRequest's message, in the flash, says what to fix.
    return h('form', {
      class: 'search', novalidate: true, 'data-test': 'reserve-form',
      onsubmit: (e) => {
        e.preventDefault();
        const asked = reserveRequest(minutes.value, reason.value);
        if (asked.error) return ctx.flash(asked.error, 'error');
        return act(reserveBoard(worker, board, asked.body), (answer) => reservedText(answer, formatTime));
      },
    },
    h('label', { class: 'field' }, h('span', {}, 'Minutes'), minutes),
    h('label', { class: 'field field-q' }, h('span', {}, 'Reason'), reason),
    h('button', { class: 'btn', type: 'submit', 'data-test': 'reserve' }, 'Reserve'),
    h('p', { class: 'muted small' }, 'The board leaves the pool until you release it or the time is up; a queue running on it finishes first.'));
  }

  /** Release for the holder; for anyone else, who holds it. */
  function releaseRow(view) {
    if (!canPower(view, me)) {
      return h('p', { class: 'muted small', 'data-test': 'held-by-other' },
        `Reserved by ${view.reserved_by}: only that token may release it or power it.`);
    }
    return h('div', { class: 'actions-row' },
      h('button', {
        class: 'btn btn-warn', type: 'button', 'data-test': 'release',
        onclick: () => act(releaseBoard(worker, board), (answer) => answer?.message ?? `${worker}/${board} released`),
      }, 'Release'),
      h('span', { class: 'muted small' }, me === null
        ? `Only ${view.reserved_by}'s token may release it or power it; the gateway refuses anyone else.`
        : 'You hold it: release it when you are done.'));
  }

  /** Enabled for the reserver (for any reserved board before the hello named this page's token). */
  function powerRow(view) {
    const allowed = canPower(view, me);
    return h('div', { class: 'actions-row' }, POWER.map(([action, label]) => h('button', {
      class: 'btn', type: 'button', 'data-test': 'power', 'data-action': action, disabled: !allowed,
      title: allowed ? null : 'Only the board\'s reserver may power it',
      onclick: () => act(powerBoard(worker, board, action), (answer) => answer?.message ?? `${worker}/${board}: power ${action}`),
    }, label)));
  }

  function renderHistory(past) {
    if (!past) {
      replace(history, h('h2', {}, 'History'), h('p', { class: 'muted', 'data-test': 'no-history' }, 'Nothing recorded for this board.'));
      return;
    }
    const runs = past.runs.slice(0, HISTORY_SHOWN);
    const changes = past.changes.slice(0, HISTORY_SHOWN);
    replace(history, h('h2', {}, 'Queues run'),
      runs.length === 0 ? h('p', { class: 'muted', 'data-test': 'no-runs' }, 'No queue has run on it yet.')
        : h('ul', { class: 'board-runs', 'data-test': 'board-runs' }, runs.map((run) => h('li', { 'data-test': 'board-run', 'data-queue': run.queue },
          h('a', { class: 'mono', href: queueHref(run.queue) }, run.queue), ' · ',
          h('span', { class: 'muted', title: formatTime(run.leased) }, formatAge(run.leased)),
          run.released ? null : h('span', { class: 'pill' }, 'running')))),
      h('h2', {}, 'Changes'),
      changes.length === 0 ? h('p', { class: 'muted', 'data-test': 'no-changes' }, 'No change recorded.')
        : h('ul', { class: 'worker-changes', 'data-test': 'board-changes' }, changes.map((c) => h('li', {
          'data-test': 'board-change', 'data-kind': c.kind, 'data-by': c.by,
        }, boardChangeText(c),
        c.queue ? [' · ', h('a', { class: 'mono', href: queueHref(c.queue) }, c.queue)] : null,
        ' · ', h('span', { class: 'muted', title: formatTime(c.at) }, formatAge(c.at))))));
  }

  refresh();
  return {
    destroy() {
      controller.abort();
      clearTimeout(timer);
      terminal.destroy();
    },
  };
}

function crumbs(worker, board) {
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('a', { href: '#/boards' }, 'Boards'), h('span', { 'aria-hidden': 'true' }, ' / '),
    h('span', { class: 'mono' }, `${worker}/${board}`));
}

function item(label, ...value) {
  return h('div', { class: 'meta-item' }, h('dt', {}, label), h('dd', {}, ...value));
}
