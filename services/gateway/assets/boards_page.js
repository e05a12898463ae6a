// The Boards page: every board of every worker from `GET /api/boards`,
// refreshed every few seconds like the Workers page — its state in words
// and colour, its labels, the queue it runs (a link), who reserved it, until
// when and why, and its last health check. A board's name links to its own
// page (`#/board/<worker>/<board>`: history, reservation, power, console).

import { listBoards, queueHref } from './api.js';
import { boardHref, boardState, healthText, reservationLeft } from './boards.js';
import { h, replace } from './dom.js';
import { formatAge, formatTime } from './format.js';

const REFRESH_MS = 2000;

export function boardsPage(root) {
  document.title = 'Boards · TestArena';
  const updated = h('span', { class: 'muted small', 'data-test': 'updated' });
  const banner = h('div', { class: 'banner banner-error', role: 'alert', hidden: true, 'data-test': 'boards-error' });
  const body = h('div', { class: 'card table-card' }, h('p', { class: 'state' }, 'Loading boards…'));
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Boards'), updated), banner, body);

  const controller = new AbortController();
  let timer = null;

  async function refresh() {
    clearTimeout(timer);
    try {
      const { boards } = await listBoards(controller.signal);
      banner.hidden = true;
      render(boards);
      updated.textContent = `Updated ${formatAge(new Date().toISOString())}`;
    } catch (e) {
      if (e.name === 'AbortError') return;
      banner.hidden = false;
      replace(banner, h('strong', {}, 'Could not load the boards. '), `${e.message}.`);
    }
    if (!controller.signal.aborted) timer = setTimeout(refresh, REFRESH_MS);
  }

  function render(boards) {
    if (boards.length === 0) {
      replace(body, h('div', { class: 'state', 'data-test': 'no-boards' },
        h('p', { class: 'state-title' }, 'No board is declared.'),
        h('p', { class: 'muted' }, 'A worker declares its boards in its config: ',
          h('code', {}, '[boards.<name>]'), ' with a serial port and power commands (see docs/boards.md).')));
      return;
    }
    replace(body, h('table', { class: 'queues', 'data-test': 'board-table' },
      h('thead', {}, h('tr', {},
        h('th', {}, 'Board'), h('th', {}, 'Labels'), h('th', {}, 'State'), h('th', {}, 'Queue'),
        h('th', {}, 'Reserved'), h('th', {}, 'Health'))),
      h('tbody', {}, boards.map(row))));
  }

  refresh();
  return {
    destroy() {
      controller.abort();
      clearTimeout(timer);
    },
  };
}

/** A board's state as a badge (`data-state` for tests), with why when the worker said. */
export function stateBadge(board) {
  const { word, tone, hint } = boardState(board.state);
  return h('span', {
    class: `badge board-state tone-${tone}`, 'data-test': 'board-state', 'data-state': board.state,
    title: board.reason ?? hint,
  }, word);
}

/** Who reserved a board, until when (with what is left) and why; a dash when nobody did. */
export function reservation(board) {
  if (!board.reserved_by) return h('span', { class: 'muted' }, '—');
  const left = reservationLeft(board.reserved_until);
  return h('div', { 'data-test': 'reservation', 'data-by': board.reserved_by },
    h('span', { class: 'mono' }, board.reserved_by),
    h('div', { class: 'muted small', title: formatTime(board.reserved_until) },
      `until ${formatTime(board.reserved_until)}${left ? ` · ${left}` : ''}`),
    board.reservation_reason ? h('div', { class: 'small' }, board.reservation_reason) : null);
}

/** The last health check's verdict and age. */
export function health(board) {
  const { text, tone } = healthText(board.health);
  return h('div', { 'data-test': 'health', 'data-tone': tone },
    h('span', { class: `health-${tone}`, title: board.health?.message ?? '' }, text),
    board.health ? h('div', { class: 'muted small', title: formatTime(board.health.at) }, formatAge(board.health.at)) : null);
}

export function queueLink(id) {
  if (!id) return h('span', { class: 'muted' }, '—');
  return h('a', { class: 'mono', href: queueHref(id), 'data-test': 'board-queue', 'data-queue': id }, id);
}

function row(board) {
  return h('tr', { 'data-test': 'board-row', 'data-worker': board.worker, 'data-board': board.name },
    h('td', {}, h('a', { class: 'mono', href: boardHref(board.worker, board.name), 'data-test': 'board-link' },
      `${board.worker}/${board.name}`),
    board.reason ? h('div', { class: 'muted small' }, board.reason) : null),
    h('td', {}, board.labels.length === 0 ? h('span', { class: 'muted' }, '—')
      : board.labels.map((l) => h('span', { class: 'pill mono' }, l))),
    h('td', {}, stateBadge(board)),
    h('td', {}, queueLink(board.queue)),
    h('td', {}, reservation(board)),
    h('td', {}, health(board)));
}
