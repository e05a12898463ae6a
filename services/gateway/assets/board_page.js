// One board (`#/board/<worker>/<board>`): its facts from `GET /api/boards`
// (state, labels, queue, reservation, health), Reserve (minutes and a
// reason) or Release, Power on/off/cycle for the reserver, its history
// (`GET .../history`: the queues it ran and its changes with who and when)
// and its live console (board_console.js). The page does not know which
// token it speaks for, so it never guesses who the reserver is: the
// server's 403/409 message goes to the flash.

import { boardHistory, listBoards, powerBoard, queueHref, releaseBoard, reserveBoard } from './api.js';
import { boardConsole } from './board_console.js';
import { boardChangeText, canPower, reserveRequest } from './boards.js';
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
  const terminal = boardConsole(worker, board);
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

  async function act(promise, done) {
    try {
      const answer = await promise;
      ctx.flash(answer?.message ?? done);
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
      const view = boards.find((b) => b.worker === worker && b.name === board) ?? null;
      renderFacts(view);
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
    terminal.setReservedBy(view?.reserved_by ?? null);
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
    // Rebuilt only when the reservation changes, so a half-typed reason survives the refresh.
    const key = JSON.stringify([view.reserved_by, view.state]);
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
        return act(reserveBoard(worker, board, asked.body), `${worker}/${board} reserved`);
      },
    },
    h('label', { class: 'field' }, h('span', {}, 'Minutes'), minutes),
    h('label', { class: 'field field-q' }, h('span', {}, 'Reason'), reason),
    h('button', { class: 'btn', type: 'submit', 'data-test': 'reserve' }, 'Reserve'),
    h('p', { class: 'muted small' }, 'The board leaves the pool until you release it or the time is up; a queue running on it finishes first.'));
  }

  function releaseRow(view) {
    return h('div', { class: 'actions-row' },
      h('button', {
        class: 'btn btn-warn', type: 'button', 'data-test': 'release',
        onclick: () => act(releaseBoard(worker, board), `${worker}/${board} released`),
      }, 'Release'),
      h('span', { class: 'muted small' }, `Only ${view.reserved_by}'s token may release it or power it; the gateway refuses anyone else.`));
  }

  /** Enabled once the board is reserved; whether it is by this page's token only the server knows. */
  function powerRow(view) {
    const allowed = canPower(view);
    return h('div', { class: 'actions-row' }, POWER.map(([action, label]) => h('button', {
      class: 'btn', type: 'button', 'data-test': 'power', 'data-action': action, disabled: !allowed,
      title: allowed ? null : 'Reserve the board first: only its reserver may power it',
      onclick: () => act(powerBoard(worker, board, action), `${worker}/${board}: power ${action}`),
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
