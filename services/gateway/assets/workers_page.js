// The Workers page: the fleet from `GET /api/workers` (every worker seen
// within the gateway's memory), refreshed every few seconds — each worker's
// profiles with their state (a quarantined one with its reason), labels,
// busy slots and last heartbeat, the queues it runs now (links), its state
// changes with who and when, and a Drain button (`POST
// /api/workers/{id}/drain`, after a confirm(): it cannot be undone in one
// click, each profile must be readmitted) or Readmit per profile. An
// offline worker says so, and since when, with nothing to press.

import { drainWorker, listWorkers, queueHref, readmitProfile } from './api.js';
import { h, replace } from './dom.js';
import { changeText, load, offline, profileStates, runningLabel, takesNothing } from './fleet.js';
import { formatAge, formatTime } from './format.js';

const REFRESH_MS = 2000;
/** State changes shown per worker; the rest are on `GET /api/workers`. */
const CHANGES_SHOWN = 5;

export function workersPage(root, ctx) {
  document.title = 'Workers · TestArena';
  const updated = h('span', { class: 'muted small', 'data-test': 'updated' });
  const banner = h('div', { class: 'banner banner-error', role: 'alert', hidden: true, 'data-test': 'workers-error' });
  const body = h('div', { class: 'card table-card' }, h('p', { class: 'state' }, 'Loading workers…'));
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Workers'), updated), banner, body);

  const controller = new AbortController();
  let timer = null;

  async function act(promise, done) {
    try {
      const answer = await promise;
      ctx.flash(answer.message ?? done);
    } catch (e) {
      ctx.flash(e.message, 'error');
    }
    refresh();
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const { workers } = await listWorkers(controller.signal);
      banner.hidden = true;
      render(workers);
      updated.textContent = `Updated ${formatAge(new Date().toISOString())}`;
    } catch (e) {
      if (e.name === 'AbortError') return;
      banner.hidden = false;
      replace(banner, h('strong', {}, 'Could not load the workers. '), `${e.message}.`);
    }
    if (!controller.signal.aborted) timer = setTimeout(refresh, REFRESH_MS);
  }

  function render(workers) {
    if (workers.length === 0) {
      replace(body, h('div', { class: 'state', 'data-test': 'no-workers' },
        h('p', { class: 'state-title' }, 'No worker seen lately.'),
        h('p', { class: 'muted' }, 'Queues wait until one joins: ', h('code', {}, 'testarena worker --config worker.toml'))));
      return;
    }
    replace(body, h('table', { class: 'queues', 'data-test': 'worker-table' },
      h('thead', {}, h('tr', {},
        h('th', {}, 'Worker'), h('th', {}, 'Profiles'), h('th', {}, 'Labels'),
        h('th', {}, 'Slots'), h('th', {}, 'Running'), h('th', {}, 'Changes'),
        h('th', {}, 'Last seen'), h('th', {}, ''))),
      h('tbody', {}, workers.map(row))));
  }

  function slots(worker) {
    const off = offline(worker);
    if (off) {
      const how = off.how === 'left' ? 'left' : 'last heard';
      return h('span', { class: 'load load-offline', 'data-test': 'presence', 'data-presence': 'offline', title: formatTime(off.since) },
        `offline · ${how} ${formatAge(off.since)}`);
    }
    const { text, tone } = load(worker);
    return h('span', { class: `load load-${tone}`, 'data-test': 'load', 'data-presence': 'live' }, text);
  }

  function running(worker) {
    const queues = worker.running ?? [];
    if (queues.length === 0) return h('span', { class: 'muted' }, '—');
    return queues.map((q) => h('div', {}, h('a', {
      class: 'mono', href: queueHref(q.id), 'data-test': 'running-queue', 'data-queue': q.id,
    }, runningLabel(q))));
  }

  function changes(worker) {
    const list = worker.changes ?? [];
    if (list.length === 0) return h('span', { class: 'muted' }, '—');
    return h('ul', { class: 'worker-changes', 'data-test': 'changes' }, list.slice(0, CHANGES_SHOWN).map((c) => h('li', {
      'data-test': 'change', 'data-kind': c.kind, 'data-by': c.by, title: c.detail ?? '',
    }, changeText(c), ' · ', h('span', { class: 'muted', title: formatTime(c.at) }, formatAge(c.at)))));
  }

  function drain(worker) {
    const question = `Drain worker ${worker.id}?\n\nIt takes nothing new and finishes what it runs; each profile takes queues again only when readmitted.`;
    if (!window.confirm(question)) return;
    act(drainWorker(worker.id), `${worker.id} drains`);
  }

  function row(worker) {
    const live = offline(worker) === null;
    return h('tr', { 'data-test': 'worker-row', 'data-id': worker.id, class: live ? null : 'worker-offline' },
      h('td', {}, h('span', { class: 'mono' }, worker.id),
        h('div', { class: 'muted small' }, `${worker.host} · v${worker.version}`)),
      h('td', {}, profileStates(worker).map((p) => h('div', {
        class: `profile-state state-${p.state}`, 'data-profile': p.name, 'data-state': p.state,
      },
      h('span', { class: 'mono' }, p.name), p.isDefault ? h('span', { class: 'pill' }, 'default') : null,
      p.state === 'ready' ? null : h('span', { class: 'pill', title: p.reason ?? '' }, p.state),
      p.reason ? h('div', { class: 'muted small' }, p.reason) : null,
      p.state === 'ready' || !live ? null : h('button', {
        class: 'btn btn-small', 'data-test': 'readmit',
        onclick: () => act(readmitProfile(worker.id, p.name), `${p.name} readmitted`),
      }, 'Readmit')))),
      h('td', {}, worker.labels.length === 0 ? h('span', { class: 'muted' }, '—')
        : worker.labels.map((l) => h('span', { class: 'pill mono' }, l))),
      h('td', {}, slots(worker)),
      h('td', {}, running(worker)),
      h('td', {}, changes(worker)),
      h('td', { title: formatTime(worker.last_seen) }, formatAge(worker.last_seen)),
      h('td', {}, !live || takesNothing(worker) ? null : h('button', {
        class: 'btn btn-small', 'data-test': 'drain', onclick: () => drain(worker),
      }, 'Drain')));
  }

  refresh();
  return {
    destroy() {
      controller.abort();
      clearTimeout(timer);
    },
  };
}
