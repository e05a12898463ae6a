// One queue: its details, stages and tasks beside its live log.
//
// The log comes from the SSE stream (history, then live). Queue events on
// that stream only say *that* something changed, so the page re-reads the
// view after each (and every few seconds while the queue runs, since the
// projector may apply an event a moment after the stream shows it). `end`
// carries the final view; the stream is closed then so the browser does not
// reconnect. On a dropped connection the browser reconnects by itself with
// Last-Event-ID; if it gives up (the gateway answered with an error), the
// page opens a new stream that resumes after the last log event it shows.

import {
  artifactUrl, cancelQueue, createBisect, deleteQueue, eventsUrl, getEvents, getQueue, logLines, logStreamUrl, queueHref,
  rawLogUrl, searchLog, sizesHref, TERMINAL, testHistory,
} from './api.js';
import { bisectHref, bisectRequest, canBisect, goodCommit } from './bisect.js';
import { stageBadge, statusBadge, taskBadge, countChips, progressBar } from './badges.js';
import { h, replace } from './dom.js';
import { queueEtaMs, taskProgress } from './eta.js';
import { rerunButtons } from './rerun.js';
import { budgetUse } from './size_chart.js';
import { sizeDiffCard } from './size_diff.js';
import {
  formatAge, formatBytes, formatDuration, formatTime, parseTime, plural, queueDurationMs,
} from './format.js';
import { endNote, saysStopped } from './log_lines.js';
import { LogView } from './log_view.js';
import { outcomeWords } from './outcome.js';
import { describeEvent } from './timeline.js';

const POLL_MS = 2000;
const REFRESH_DEBOUNCE_MS = 150;
const RETRY_MS = 3000;
const QUEUE_EVENTS = [
  'submitted', 'started', 'stage_started', 'stage_finished', 'task_started', 'task_finished',
  'finished', 'cancel_requested', 'artifact_stored', 'firmware_measured',
];

export function queuePage(root, id, ctx) {
  const page = new QueuePage(root, id, ctx);
  page.load();
  return page;
}

class QueuePage {
  constructor(root, id, ctx) {
    this.root = root;
    this.id = id;
    this.ctx = ctx;
    this.view = null;
    this.source = null;
    this.ended = false;
    this.gone = false;
    this.lastSeq = 0;
    // Per shard ('' when unsharded): a new attempt of it is marked in the log.
    this.lastAttempts = new Map();
    // The worker logged that it stopped the queue: the page does not say it again.
    this.workerSaidStop = false;
    this.timers = new Set();
    // What each failed task's history says (task id → note or null), each
    // asked for once.
    this.notes = new Map();
    this.controller = new AbortController();
    document.title = `${id} · TestArena`;
    replace(root, crumbs(id), h('p', { class: 'state' }, 'Loading…'));
  }

  destroy() {
    this.controller.abort();
    this.closeStream();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.log?.destroy();
  }

  later(fn, ms) {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
    return t;
  }

  async load() {
    let view;
    try {
      view = await getQueue(this.id, this.controller.signal);
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e.isNotFound) return this.showMissing('not-found');
      replace(this.root, crumbs(this.id), h('div', { class: 'state state-error', role: 'alert', 'data-test': 'load-error' },
        h('p', { class: 'state-title' }, e.isNetwork ? 'Cannot reach the TestArena gateway.' : 'Could not load this queue.'),
        h('p', { class: 'muted' }, `${e.message}. Retrying in ${RETRY_MS / 1000} s…`),
        h('button', { class: 'btn', type: 'button', onclick: () => this.load() }, 'Retry now')));
      this.later(() => this.load(), RETRY_MS);
      return;
    }
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.buildLayout();
    this.render(view);
    this.openStream();
    this.poll();
  }

  buildLayout() {
    this.log = new LogView({
      maxLines: 5000,
      fullLogUrl: rawLogUrl(this.id),
      api: { lines: (from, limit) => logLines(this.id, from, limit), search: (q, regex) => searchLog(this.id, q, regex) },
    });
    this.banner = h('div', { class: 'banner banner-warn', role: 'status', hidden: true, 'data-test': 'connection-banner' });
    this.cancelButton = h('button', {
      class: 'btn btn-warn', type: 'button', 'data-test': 'cancel', onclick: () => this.cancel(),
    }, 'Cancel');
    this.eventsButton = h('button', {
      class: 'btn btn-quiet', type: 'button', 'data-test': 'events', 'aria-expanded': 'false',
      onclick: () => this.toggleTimeline(),
    }, 'Events');
    this.timeline = h('section', { class: 'card timeline-card', 'aria-label': 'Events', hidden: true, 'data-test': 'timeline' });
    this.deleteButton = h('button', {
      class: 'btn btn-danger', type: 'button', 'data-test': 'delete', onclick: () => this.remove(),
    }, 'Delete');
    this.rerun = rerunButtons(() => this.view, this.ctx.flash);
    this.sizeDiff = sizeDiffCard();
    this.title = h('div', { class: 'title-line' });
    this.reason = h('div', { class: 'banner', hidden: true, 'data-test': 'reason' });
    this.meta = h('dl', { class: 'meta' });
    this.stages = h('ol', { class: 'stages', 'data-test': 'stages' });
    this.tasksSummary = h('div', { class: 'tasks-summary' });
    this.tasks = h('ul', { class: 'tasks', 'data-test': 'tasks' });
    this.artifacts = h('section', { class: 'card', 'aria-label': 'Artifacts', hidden: true, 'data-test': 'artifacts' });
    replace(this.root,
      crumbs(this.id),
      h('div', { class: 'queue-head' },
        this.title,
        h('div', { class: 'actions' },
          this.eventsButton, ...this.rerun.elements, this.cancelButton, this.deleteButton)),
      this.banner,
      this.reason,
      this.timeline,
      h('div', { class: 'queue-grid' },
        h('div', { class: 'queue-side' },
          h('section', { class: 'card', 'aria-label': 'Details' }, this.meta),
          h('section', { class: 'card', 'aria-label': 'Stages' }, h('h2', {}, 'Stages'), this.stages),
          h('section', { class: 'card', 'aria-label': 'Tasks' },
            h('h2', {}, 'Tasks'), this.tasksSummary, this.tasks),
          this.artifacts,
          this.sizeDiff.element),
        this.log.element));
  }

  render(view) {
    if (!view || this.gone) return;
    this.view = view;
    const terminal = TERMINAL.has(view.status);
    document.title = `${view.id} · ${outcomeWords(view)} · TestArena`;
    replace(this.title,
      h('h1', { class: 'mono' }, view.id),
      statusBadge(view),
      view.cancel_requested && !terminal ? h('span', { class: 'pill', 'data-test': 'cancelling' }, 'cancelling…') : null);
    // An ended queue has nothing to cancel: the button goes, not just greys out.
    this.cancelButton.hidden = terminal;
    this.cancelButton.disabled = view.cancel_requested;
    this.cancelButton.textContent = view.cancel_requested ? 'Cancelling…' : 'Cancel';
    this.rerun.update(view, terminal);
    this.sizeDiff.show(view);
    this.log.setView(view);

    // The reason is said once, here; stages and tasks do not repeat it.
    this.reason.hidden = !view.reason;
    this.reason.className = `banner ${view.status === 'Error' ? 'banner-error' : 'banner-warn'}`;
    if (view.reason) replace(this.reason, h('strong', {}, `${view.status}: `), view.reason);

    const now = Date.now();
    const repo = view.source.repo;
    replace(this.meta,
      item('Source', /^https?:\/\//.test(repo)
        ? h('a', { href: repo, target: '_blank', rel: 'noopener noreferrer', class: 'break' }, repo)
        : h('span', { class: 'break mono' }, repo)),
      item('Ref', h('span', { class: 'mono' }, view.source.ref)),
      commitItem(view, now),
      item('Profile', view.profile ?? h('span', { class: 'muted' }, 'worker default')),
      view.shards?.length ? item('Shards', shardsText(view.shards)) : item('Worker', view.worker ?? '—'),
      item('Attempt', String(view.attempt)),
      item('Submitted', h('span', { title: formatTime(view.submitted_at) }, formatAge(view.submitted_at, now))),
      item('Started', h('span', { title: formatTime(view.started_at) }, view.started_at ? formatAge(view.started_at, now) : '—')),
      item('Finished', h('span', { title: formatTime(view.finished_at) }, view.finished_at ? formatAge(view.finished_at, now) : '—')),
      item('Duration', formatDuration(queueDurationMs(view, now))),
      waitingItem(view),
      etaItem(view, now),
      firmwareItem(view),
      view.bisect ? item('Bisect', h('a', { href: bisectHref(view.bisect), class: 'mono', 'data-test': 'queue-bisect' }, view.bisect)) : null,
      view.rerun_of ? item('Rerun of', h('a', { href: queueHref(view.rerun_of), class: 'mono', 'data-test': 'rerun-of' }, view.rerun_of)) : null);

    const artifacts = view.artifacts ?? [];
    this.artifacts.hidden = artifacts.length === 0;
    replace(this.artifacts, h('h2', {}, 'Artifacts'), h('ul', { class: 'artifacts' },
      artifacts.map((a) => h('li', { 'data-artifact': a.name },
        h('a', { href: artifactUrl(view.id, a.name), download: a.name.split('/').pop(), class: 'mono break' }, a.name),
        h('span', { class: 'num muted' }, ` ${formatBytes(a.size)}`),
        h('span', { class: 'muted mono', title: `sha256 ${a.sha256}` }, ` ${a.sha256.slice(0, 10)}`)))));

    replace(this.stages, view.stages.length
      ? view.stages.map((s) => h('li', { class: `stage stage-row-${s.status}`, 'data-stage': s.stage },
        h('span', { class: 'stage-name' }, s.shard === null || s.shard === undefined ? s.stage : `${s.stage} · shard ${s.shard}`),
        stageBadge(s),
        h('span', { class: 'num muted' }, s.duration_ms !== null && s.duration_ms !== undefined
          ? formatDuration(s.duration_ms)
          : s.status === 'running' ? formatDuration(now - (parseTime(s.started_at) ?? now)) : ''),
        s.message && s.message !== view.reason ? h('div', { class: 'stage-message' }, s.message) : null))
      : h('li', { class: 'muted' }, view.status === 'Waiting' ? waitingSentence(view) : 'No stage has run.'));

    replace(this.tasksSummary, progressBar(view.counts), countChips(view.counts));
    replace(this.tasks, view.tasks.map((t) => taskItem(t, now, view.reason, this.notes.get(t.id),
      canBisect(view, t) ? (button) => this.bisect(t, button) : null)));
    this.askHistory(view);
  }

  /** Asks once per failed task what its history says, then shows it. */
  askHistory(view) {
    for (const t of view.tasks) {
      if (!FAILED.has(t.result) || this.notes.has(t.id)) continue;
      this.notes.set(t.id, null);
      const test = { repo: view.source.repo, profile: view.profile, task: t.id };
      testHistory(test, this.controller.signal).then((history) => {
        // The server decides what the history says (`failure_note`).
        this.notes.set(t.id, history?.test?.failure_note ?? null);
        if (this.view) this.render(this.view);
      }).catch(() => { /* the note is extra; the page stands without it */ });
    }
  }

  // --- the live stream ------------------------------------------------------

  openStream() {
    if (this.ended || this.gone || this.controller.signal.aborted) return;
    // A reopened stream resumes after the last log event shown (the browser's
    // own reconnect sends Last-Event-ID; a new EventSource cannot).
    const es = new EventSource(logStreamUrl(this.id, this.lastSeq > 0 ? this.lastSeq : null));
    this.source = es;
    this.log.setStatus('connecting', 'connecting…');
    es.onopen = () => {
      this.setConnected(true);
      // Events may have been missed while disconnected.
      this.scheduleRefresh();
    };
    es.addEventListener('log', (e) => this.onLog(e));
    for (const type of QUEUE_EVENTS) es.addEventListener(type, () => this.scheduleRefresh());
    es.addEventListener('deleted', (e) => this.onDeleted(e));
    es.addEventListener('end', (e) => {
      this.ended = true;
      this.closeStream();
      let view = null;
      try { view = JSON.parse(e.data); } catch { /* keep the last view */ }
      if (view === null && !this.gone) return this.onDeleted(e);
      this.render(view);
      const note = endNote('end', view ?? this.view, this.workerSaidStop);
      if (note) this.log.marker(`──── ${note} ────`);
      this.log.setStatus('ended', 'ended');
      this.banner.hidden = true;
    });
    es.onerror = () => {
      if (this.ended || this.source !== es) return;
      this.setConnected(false);
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (an error answer, not a dropped connection).
        this.closeStream();
        this.later(() => this.reopen(), RETRY_MS);
      }
    };
  }

  async reopen() {
    try {
      await getQueue(this.id, this.controller.signal);
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e.isNotFound) return this.onDeleted();
      this.later(() => this.reopen(), RETRY_MS);
      return;
    }
    this.openStream();
  }

  onLog(e) {
    const seq = Number(e.lastEventId);
    if (Number.isFinite(seq) && seq > 0) {
      if (seq <= this.lastSeq) return; // already shown, before a reconnect
      this.lastSeq = seq;
    }
    let batch;
    try { batch = JSON.parse(e.data); } catch { return; }
    const shard = batch.shard ?? null;
    const key = shard === null ? '' : String(shard);
    const last = this.lastAttempts.get(key);
    if (last !== undefined && batch.attempt !== last) {
      const which = shard === null ? '' : ` of shard ${shard}`;
      this.log.marker(`──── attempt ${batch.attempt}${which} (the previous worker stopped) ────`);
    }
    this.lastAttempts.set(key, batch.attempt);
    const lines = (batch.lines ?? []).map((l) => (shard === null ? l : { ...l, shard }));
    if (lines.some(saysStopped)) this.workerSaidStop = true;
    this.log.append(lines);
  }

  /**
   * Deleted while open: the log stays readable, ends with a line saying so,
   * and the page says the queue is gone instead of vanishing under the reader.
   */
  onDeleted() {
    if (this.gone) return;
    this.gone = true;
    this.ended = true;
    this.closeStream();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const note = endNote('deleted', null, this.workerSaidStop);
    if (note) this.log.marker(`──── ${note} ────`);
    this.log.setStatus('ended', 'deleted');
    this.banner.hidden = true;
    this.cancelButton.hidden = true;
    this.deleteButton.hidden = true;
    for (const button of this.rerun.elements) button.hidden = true;
    this.reason.hidden = false;
    this.reason.className = 'banner banner-warn';
    replace(this.reason, h('strong', {}, 'Deleted: '), `queue ${this.id} was deleted; its view, log and files are gone. `,
      h('a', { href: '#/' }, 'All queues'));
  }

  async toggleTimeline() {
    const open = this.timeline.hidden;
    this.timeline.hidden = !open;
    this.eventsButton.setAttribute('aria-expanded', String(open));
    if (!open) return;
    replace(this.timeline, h('h2', {}, 'Events'), h('p', { class: 'muted' }, 'Loading…'));
    let events;
    try {
      ({ events } = await getEvents(this.id, this.controller.signal));
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(this.timeline, h('h2', {}, 'Events'), h('p', { class: 'state-error' }, `Could not load the events: ${e.message}`));
      return;
    }
    const start = parseTime(events[0]?.at);
    replace(this.timeline,
      h('div', { class: 'timeline-head' },
        h('h2', {}, `Events (${events.length})`),
        h('a', { class: 'btn btn-small btn-quiet', href: eventsUrl(this.id), target: '_blank', rel: 'noopener' }, 'JSON')),
      h('ol', { class: 'timeline' }, events.map((event) => {
        const { at, kind, text, tone } = describeEvent(event);
        const t = parseTime(at);
        return h('li', { class: `tl tl-${tone}`, 'data-kind': kind },
          h('time', { class: 'tl-time mono muted', datetime: at, title: formatTime(at) },
            t === null || start === null ? '' : `+${formatDuration(t - start)}`),
          h('span', { class: 'tl-text' }, text));
      })));
  }

  setConnected(connected) {
    this.banner.hidden = connected;
    if (connected) {
      this.log.setStatus('live', 'live');
    } else {
      this.log.setStatus('reconnecting', 'disconnected, reconnecting…');
      replace(this.banner, h('strong', {}, 'Disconnected from the gateway'), ' — reconnecting…');
    }
  }

  closeStream() {
    if (this.source) {
      this.source.onerror = null;
      this.source.close();
      this.source = null;
    }
  }

  scheduleRefresh() {
    if (this.refreshTimer) return;
    this.refreshTimer = this.later(async () => {
      this.refreshTimer = null;
      await this.refresh();
    }, REFRESH_DEBOUNCE_MS);
  }

  async refresh() {
    try {
      this.render(await getQueue(this.id, this.controller.signal));
    } catch (e) {
      if (e.isNotFound) this.onDeleted();
      // Otherwise the stream's state already says what is wrong.
    }
  }

  poll() {
    if (this.gone || this.controller.signal.aborted) return;
    if (this.view && TERMINAL.has(this.view.status) && this.ended) return;
    this.later(async () => {
      await this.refresh();
      this.poll();
    }, POLL_MS);
  }

  // --- actions --------------------------------------------------------------

  /**
   * "Bisect this failure": `bad` is this queue's commit, `good` the newest
   * commit where the test passed before (bisect.js), left out when the
   * history has none so the bisect walks back by itself; then the bisect's page.
   */
  async bisect(task, button) {
    // The task list is redrawn under the button; one bisect at a time from here.
    if (this.bisecting) return;
    this.bisecting = true;
    const view = this.view;
    button.disabled = true;
    try {
      const test = { repo: view.source.repo, profile: view.profile, task: task.id };
      const history = await testHistory(test, this.controller.signal);
      const good = goodCommit(history?.runs, view.id, view.commit);
      const { id } = await createBisect(bisectRequest(view, task, good));
      this.ctx.flash(good
        ? `Bisect ${id} started between ${good.slice(0, 10)} and ${view.commit.slice(0, 10)}.`
        : `Bisect ${id} started; no earlier pass is recorded, so it walks back from ${view.commit.slice(0, 10)}.`);
      window.location.hash = bisectHref(id);
    } catch (e) {
      if (e.name === 'AbortError') return;
      this.bisecting = false;
      button.disabled = false;
      this.ctx.flash(`Could not start a bisect of ${task.id}: ${e.message}`, 'error');
    }
  }

  async cancel() {
    if (!window.confirm(`Cancel queue ${this.id}?\n\nRunning tasks are stopped; tasks not started yet are skipped.`)) return;
    this.cancelButton.disabled = true;
    try {
      this.render(await cancelQueue(this.id));
      this.ctx.flash(`Cancel requested for ${this.id}.`);
    } catch (e) {
      this.ctx.flash(`Could not cancel ${this.id}: ${e.message}`, 'error');
      this.refresh();
    }
  }

  async remove() {
    if (!window.confirm(`Delete queue ${this.id}?\n\nIts view, log and files are removed. This cannot be undone.`)) return;
    this.deleteButton.disabled = true;
    try {
      await deleteQueue(this.id);
      this.gone = true;
      this.ctx.flash(`Deleted queue ${this.id}.`);
      window.location.hash = '#/';
    } catch (e) {
      this.deleteButton.disabled = false;
      this.ctx.flash(`Could not delete ${this.id}: ${e.message}`, 'error');
    }
  }

  /** `not-found` when the id never resolved, `deleted` when it went away while open. */
  showMissing(why) {
    if (this.missingShown) return;
    this.missingShown = true;
    this.gone = true;
    this.closeStream();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.log?.destroy();
    document.title = `Not found · TestArena`;
    replace(this.root, crumbs(this.id), h('div', { class: 'state', role: 'alert', 'data-test': 'not-found' },
      h('p', { class: 'state-title' }, why === 'deleted'
        ? `Queue ${this.id} was deleted.`
        : `No queue with id ${this.id}.`),
      h('p', { class: 'muted' }, why === 'deleted'
        ? 'Its view, log and files are gone.'
        : 'It may have been deleted, or the link is mistyped.'),
      h('a', { class: 'btn', href: '#/' }, 'All queues')));
  }
}

function crumbs(id) {
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('a', { href: '#/' }, 'Queues'), h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { class: 'mono' }, id));
}

/** "0: worker-1 · 1: worker-2 · 2: waiting" for a sharded queue. */
function shardsText(shards) {
  return shards.map((s) => `${s.shard}: ${s.status === 'waiting' ? 'waiting' : s.worker}${s.status === 'finished' ? ' ✓' : ''}`).join(' · ');
}

function item(label, value) {
  return h('div', { class: 'meta-item' }, h('dt', {}, label), h('dd', {}, value));
}

/** The resolved commit, and what it is (subject, author, when) once the worker read it. */
function commitItem(view, now) {
  if (!view.commit) return item('Commit', '—');
  const sha = h('span', { class: 'mono', title: view.commit }, view.commit.slice(0, 12));
  const c = view.commit_context;
  if (!c) return item('Commit', h('span', { class: 'break' }, sha));
  return item('Commit', h('span', { class: 'break', 'data-test': 'commit-context' },
    sha, ' ', h('strong', {}, c.subject),
    h('div', { class: 'muted' }, `${c.author} · `, h('span', { title: formatTime(c.date) }, formatAge(c.date, now)))));
}

/** text / data / bss of the measured ELF, linked to its trend. */
function firmwareItem(view) {
  const fw = view.firmware;
  if (!fw) return null;
  const use = budgetUse(fw, view.firmware_budget);
  const parts = ['flash', 'ram'].filter((p) => use[p]).map((p) => h('span', {
    class: use[p].over ? 'budget-over' : 'muted', 'data-budget': p, title: `${use[p].used} of ${use[p].budget} bytes`,
  }, ` · ${p} ${use[p].percent} % of budget`));
  return item('Firmware', h('span', { 'data-test': 'firmware' },
    h('span', { class: 'num' }, `text ${fw.text} · data ${fw.data} · bss ${fw.bss} B`), parts, ' ',
    h('a', { href: sizesHref(view.source.repo, view.profile), 'data-test': 'size-trend' }, 'trend')));
}

/** "Waiting for a worker with profile qemu-arm." — the scheduler's reason, else the plain fact. */
function waitingSentence(view) {
  const reason = view.waiting_reason;
  return reason ? `${reason[0].toUpperCase()}${reason.slice(1)}.` : 'Waiting for a worker.';
}

/** Why a waiting queue has not started, and its place in line (the scheduler's word). */
function waitingItem(view) {
  if (view.status !== 'Waiting' || !view.waiting_reason) return null;
  const place = view.position ? ` (#${view.position} in line)` : '';
  return h('div', { class: 'meta-item meta-wide', 'data-test': 'waiting-reason' },
    h('dt', {}, 'Waiting'),
    h('dd', { 'data-worker-available': String(view.worker_available ?? '') }, `${view.waiting_reason}${place}`));
}

function etaItem(view, now) {
  const eta = queueEtaMs(view, now);
  if (eta === null) return null;
  return h('div', { class: 'meta-item', 'data-test': 'eta' },
    h('dt', {}, 'ETA'),
    h('dd', { title: 'From the durations recorded for these scenarios' },
      eta < 1000 ? 'any moment' : `about ${formatDuration(eta)} left`));
}

const FAILED = new Set(['FAIL', 'TIMEOUT', 'ERROR']);

/** `onBisect(button)`: the failure can be bisected, and this starts it. */
function taskItem(t, now, queueReason, note, onBisect) {
  const running = t.status === 'Running';
  const duration = t.duration_ms ?? (running ? now - (parseTime(t.started_at) ?? now) : null);
  const details = [];
  if (t.exit_code !== null && t.exit_code !== undefined) details.push(`exit ${t.exit_code}`);
  if (t.timeout_s) details.push(`timeout ${t.timeout_s} s`);
  const message = t.message && t.message !== queueReason ? t.message : null;
  return h('li', { class: `task task-${(t.result ?? t.status).toLowerCase()}`, 'data-task': t.id, 'data-status': t.status, 'data-result': t.result ?? '' },
    h('div', { class: 'task-row' },
      taskBadge(t),
      t.quarantined ? h('span', { class: 'badge res-quarantined', 'data-test': 'task-quarantined', title: 'A quarantine excuses this failure: it does not fail the queue' }, 'quarantined') : null,
      h('span', { class: 'task-id' }, t.id),
      h('span', { class: 'task-scenario mono muted', title: t.scenario }, t.scenario),
      t.shard !== null && t.shard !== undefined
        ? h('span', { class: 'task-shard muted', 'data-test': 'task-shard', title: `shard ${t.shard} on ${t.worker ?? '?'}` }, `s${t.shard} · ${t.worker ?? ''}`)
        : null,
      h('span', { class: 'num muted' }, duration === null ? '' : formatDuration(duration)),
      onBisect ? h('button', {
        class: 'btn btn-small', type: 'button', 'data-test': 'bisect-failure',
        title: 'Find the first commit where this test fails', onclick: (e) => onBisect(e.currentTarget),
      }, 'Bisect this failure') : null),
    running ? taskProgressBar(t) : null,
    t.tries?.length ? h('div', { class: 'task-tries muted', 'data-test': 'task-tries' },
      `tries: ${t.tries.map((x) => x.result).join(' → ')}`) : null,
    note ? h('div', { class: `task-history task-history-${note.kind}`, 'data-test': 'task-history' }, note.text) : null,
    details.length || message
      ? h('div', { class: 'task-detail muted' }, details.join(' · '), message ? h('div', { class: 'task-message' }, message) : null)
      : null,
    t.junit ? junit(t.junit) : null);
}

/** "case 12 of 25" with a bar, when the task's output reported it. */
function taskProgressBar(t) {
  const p = taskProgress(t);
  if (!p) return null;
  const bar = h('span', { class: 'task-bar' }, h('span', {}));
  bar.firstChild.style.width = `${Math.round(p.fraction * 100)}%`;
  return h('div', { class: 'task-progress', 'data-test': 'task-progress' },
    bar, h('span', { class: 'small muted' }, `case ${p.done} of ${p.total}`));
}

const CASE_MARK = { passed: '✓', failed: '✕', error: '!', skipped: '–' };

/**
 * The JUnit summary; with the view's cases, a <details> that opens to each
 * case, its time and its failure message (failing cases first). Older views
 * only name the failing cases.
 */
function junit(j) {
  const parts = [plural(j.tests, 'test')];
  if (j.failures) parts.push(`${j.failures} failed`);
  if (j.errors) parts.push(plural(j.errors, 'error'));
  if (j.skipped) parts.push(`${j.skipped} skipped`);
  const summary = [h('span', { class: 'junit-label' }, 'JUnit'), ' ', h('span', { 'data-test': 'junit-summary' }, parts.join(' · '))];
  if (Array.isArray(j.cases) && j.cases.length) {
    const order = { failed: 0, error: 0, skipped: 2, passed: 1 };
    const cases = [...j.cases].sort((a, b) => (order[a.result] ?? 1) - (order[b.result] ?? 1));
    return h('details', { class: 'junit', 'data-test': 'junit', open: j.failures + j.errors > 0 && j.cases.length <= 12 },
      h('summary', {}, summary),
      h('ul', { class: 'cases', 'data-test': 'junit-cases' }, cases.map((c) => h('li', {
        class: `case case-${c.result}`, 'data-case': c.name, 'data-result': c.result,
      },
      h('span', { class: 'case-mark', 'aria-label': c.result }, CASE_MARK[c.result] ?? '·'),
      h('span', { class: 'case-name mono', title: c.classname ? `${c.classname}.${c.name}` : c.name }, c.name),
      h('span', { class: 'num muted small' }, Number.isFinite(c.time_ms) ? formatDuration(c.time_ms) : ''),
      c.message ? h('div', { class: 'case-message mono' }, c.message) : null))));
  }
  const bad = j.failures + j.errors;
  return h('div', { class: 'junit', 'data-test': 'junit' }, summary,
    j.failed_cases?.length
      ? h('ul', { class: 'failed-cases' }, j.failed_cases.map((c) => h('li', { class: 'mono' }, c)),
        bad > j.failed_cases.length ? h('li', { class: 'muted' }, `…and ${bad - j.failed_cases.length} more`) : null)
      : null);
}
