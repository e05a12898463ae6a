// The log panel: lines arrive in any amount (a replay can be hundreds of
// thousands), and the page must stay responsive. So lines are queued and
// drawn at most every FLUSH_MS, in an animation frame, and only the last
// `maxLines` are kept, in the DOM and in the queue (so a burst, or a hidden
// tab, never builds lines that would be dropped at once); the note above
// the log says so and links to the full text. "Follow" keeps the view at the bottom;
// scrolling up turns it off, scrolling back to the bottom turns it on again.
//
// Teardown output (a process stopped on purpose) is muted and labelled, not
// red; lines matching the profile's failure_regex are marked. Every line
// carries its number in the log (the SSE stream sends them in the file's
// order), and its time on the "Time" toggle. Search highlights matches in
// the lines kept, with next/previous; once the log outgrew them, the server
// searches the whole log and a hit outside them is loaded from it
// (log_excerpt.js). "First failure" lands on the first failing task's
// failed case, else its first line saying FAIL, ERROR or Assertion (the
// server finds it when it is not kept); compact mode shows a source label
// only where it changes. The decisions are in log_lines.js.

import { parseAnsi, stripAnsi } from './ansi.js';
import { h, replace } from './dom.js';
import { formatCount } from './format.js';
import { EXCERPT_LINES, LogExcerpt } from './log_excerpt.js';
import {
  failureSearch, failureTarget, findMatches, firstFailureIndex, lineKind, lineTime, markSegments, showsSource,
} from './log_lines.js';

const SOURCE_COLOURS = 6;
const FLUSH_MS = 100;
const SEARCH_DELAY_MS = 250;

export class LogView {
  /** `api`: {lines(from, limit), search(q, regex)} over the stored log; without it, only the lines kept. */
  constructor({ maxLines = 5000, fullLogUrl, api = null }) {
    this.maxLines = maxLines;
    this.fullLogUrl = fullLogUrl;
    this.api = api;
    this.serverHits = null; // line numbers the server found, while they stand for the matches
    this.serverMatches = 0;
    this.searchTimer = null;
    this.pending = [];
    this.received = 0;
    this.shown = 0;
    this.frame = null;
    this.timer = null;
    this.lastFlush = 0;
    this.follow = true;
    this.sourceColours = new Map();
    this.records = []; // {line, el}, one per element in the log, oldest first
    this.lastSource = null;
    this.view = null;
    this.query = '';
    this.matches = []; // <mark> elements, in log order
    this.current = -1;

    this.status = h('span', { class: 'conn', role: 'status', 'aria-live': 'polite' });
    this.counter = h('span', { class: 'log-count muted' }, '0 lines');
    this.followBox = h('input', { type: 'checkbox', checked: true, 'data-test': 'follow' });
    this.followBox.addEventListener('change', () => this.setFollow(this.followBox.checked));
    this.wrapBox = h('input', { type: 'checkbox' });
    this.wrapBox.addEventListener('change', () => this.lines.classList.toggle('wrap', this.wrapBox.checked));
    this.compactBox = h('input', { type: 'checkbox', 'data-test': 'compact' });
    this.compactBox.addEventListener('change', () => this.lines.classList.toggle('compact', this.compactBox.checked));
    this.timeBox = h('input', { type: 'checkbox', 'data-test': 'timestamps' });
    this.timeBox.addEventListener('change', () => this.showTimes(this.timeBox.checked));
    this.searchBox = h('input', {
      type: 'search', class: 'log-search', placeholder: 'Search the log', 'aria-label': 'Search the log',
      'data-test': 'log-search',
    });
    this.searchBox.addEventListener('input', () => this.search(this.searchBox.value));
    this.searchBox.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); this.step(e.shiftKey ? -1 : 1); }
    });
    this.matchCount = h('span', { class: 'match-count muted small', 'data-test': 'match-count' });
    this.prevButton = h('button', {
      class: 'btn btn-small', type: 'button', title: 'Previous match (Shift+Enter)', 'data-test': 'match-prev',
      disabled: true, onclick: () => this.step(-1),
    }, '↑');
    this.nextButton = h('button', {
      class: 'btn btn-small', type: 'button', title: 'Next match (Enter)', 'data-test': 'match-next',
      disabled: true, onclick: () => this.step(1),
    }, '↓');
    this.failureButton = h('button', {
      class: 'btn btn-small btn-fail', type: 'button', 'data-test': 'first-failure', hidden: true,
      title: 'The first line of the first failing task, or the first line the profile flags as a failure',
      onclick: () => this.jumpToFailure(),
    }, 'First failure');
    this.note = h('div', { class: 'log-note', hidden: true });
    this.empty = h('div', { class: 'log-empty' }, 'No output yet.');
    this.lines = h('div', {
      class: 'log', role: 'log', tabindex: '0', 'aria-label': 'Queue log', 'data-test': 'log',
    }, this.empty);
    this.lines.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.excerpt = api ? new LogExcerpt({
      load: (from, limit) => api.lines(from, limit),
      render: (line) => this.renderLine(line),
      onClose: () => this.closeExcerpt(),
    }) : null;

    this.element = h('section', { class: 'card log-panel', 'aria-label': 'Log' },
      h('div', { class: 'log-toolbar' },
        h('h2', {}, 'Log'),
        this.status,
        this.counter,
        h('span', { class: 'spacer' }),
        h('label', { class: 'toggle', title: 'Keep the newest line in view' }, this.followBox, 'Follow'),
        h('label', { class: 'toggle', title: 'Wrap long lines' }, this.wrapBox, 'Wrap'),
        h('label', { class: 'toggle', title: 'Show a source label only where it changes' }, this.compactBox, 'Compact'),
        h('label', { class: 'toggle', title: 'When the worker read each line (local time)' }, this.timeBox, 'Time'),
        h('a', { class: 'btn btn-small', href: fullLogUrl, target: '_blank', rel: 'noopener' }, 'Raw log'),
      ),
      h('div', { class: 'log-toolbar log-find' },
        this.searchBox, this.prevButton, this.nextButton, this.matchCount,
        h('span', { class: 'spacer' }),
        this.failureButton),
      this.note,
      this.excerpt?.element,
      this.lines,
    );
  }

  /** `kind`: live, connecting, reconnecting, ended, error. */
  setStatus(kind, text) {
    this.status.className = `conn conn-${kind}`;
    this.status.dataset.state = kind;
    this.status.textContent = text;
  }

  /** lines: [{source, stream, text}] as the log stream sends them. */
  append(lines) {
    for (const line of lines) {
      this.received += 1;
      line.n = this.received;
      this.pending.push(line);
    }
    // Hidden tabs get no animation frames: keep only what would be shown.
    if (this.pending.length > this.maxLines) this.pending.splice(0, this.pending.length - this.maxLines);
    this.schedule();
  }

  /** A line of our own between log lines, e.g. where a new attempt starts. */
  marker(text) {
    this.pending.push({ marker: text });
    this.schedule();
  }

  setFollow(on) {
    this.follow = on;
    this.followBox.checked = on;
    if (on) this.scrollToEnd();
  }

  destroy() {
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    clearTimeout(this.timer);
    clearTimeout(this.searchTimer);
    this.frame = null;
    this.timer = null;
    this.pending = [];
  }

  schedule() {
    if (this.frame !== null || this.timer !== null) return;
    const wait = Math.max(0, this.lastFlush + FLUSH_MS - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.frame = requestAnimationFrame(() => this.flush());
    }, wait);
  }

  flush() {
    this.frame = null;
    this.lastFlush = performance.now();
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const fragment = document.createDocumentFragment();
    const added = [];
    for (const line of batch) {
      const el = line.marker ? this.renderMarker(line.marker) : this.renderLine(line);
      added.push({ line, el });
      fragment.append(el);
    }
    if (this.empty.isConnected) this.empty.remove();
    // Drop the oldest lines in one go, before adding, so the DOM never holds
    // more than maxLines.
    const excess = this.shown + batch.length - this.maxLines;
    if (excess >= this.shown) {
      this.lines.replaceChildren();
      this.shown = 0;
      this.records = [];
    } else if (excess > 0) {
      this.records.splice(0, excess);
      const range = document.createRange();
      range.setStartBefore(this.lines.firstElementChild);
      range.setEndAfter(this.lines.children[excess - 1]);
      range.deleteContents();
      this.shown -= excess;
    }
    // A burst bigger than maxLines: only its newest lines are kept.
    const keep = added.slice(Math.max(0, added.length - this.maxLines));
    if (keep.length < added.length) for (const { el } of added.slice(0, added.length - keep.length)) el.remove();
    this.lines.append(fragment);
    this.records.push(...keep);
    this.shown = this.records.length;
    this.updateCounts();
    if (this.query) this.markNew(keep);
    this.updateFailure();
    if (this.follow) this.scrollToEnd();
  }

  updateCounts() {
    this.counter.textContent = `${formatCount(this.received)} line${this.received === 1 ? '' : 's'}`;
    this.lines.dataset.received = String(this.received);
    const dropped = this.received > this.maxLines;
    this.note.hidden = !dropped;
    if (dropped) {
      const earlier = this.excerpt ? h('button', {
        class: 'btn btn-small', type: 'button', 'data-test': 'load-earlier',
        onclick: () => this.openExcerpt(Math.max(1, this.firstKeptLine() - EXCERPT_LINES)),
      }, 'Load earlier lines') : null;
      replace(this.note,
        `Showing the last ${formatCount(this.maxLines)} of ${formatCount(this.received)} lines. `,
        earlier, earlier ? ' ' : null,
        h('a', { href: this.fullLogUrl, target: '_blank', rel: 'noopener' }, 'Open the full log'));
    }
  }

  /** The number of the oldest line kept in the tail (one past the last when none is). */
  firstKeptLine() {
    const first = this.records.find((r) => !r.line.marker);
    return first ? first.line.n : this.received + 1;
  }

  /** Whether lines of the log are no longer kept here, so a search or a jump needs the server. */
  truncated() {
    return this.api !== null && this.firstKeptLine() > 1;
  }

  showTimes(on) {
    this.lines.classList.toggle('show-ts', on);
    this.excerpt?.lines.classList.toggle('show-ts', on);
  }

  async openExcerpt(from, focus = null) {
    try {
      const target = await this.excerpt.open(from, focus);
      this.setFollow(false);
      this.lines.hidden = true;
      if (target && this.query) this.highlight(target)[0]?.classList.add('current');
      return target;
    } catch (e) {
      this.matchCount.textContent = `could not load lines: ${e.message}`;
      return null;
    }
  }

  closeExcerpt() {
    this.excerpt?.hide();
    this.lines.hidden = false;
    this.setFollow(true);
  }

  renderLine(line) {
    const kind = lineKind(line);
    const sameSource = !showsSource(true, this.lastSource, line.source);
    this.lastSource = line.source;
    return h('div', {
      class: `ln ln-${kind}${sameSource ? ' same-src' : ''}`,
      'data-kind': kind,
      'data-line': line.n,
      title: kind === 'teardown' ? 'Output of a process stopped on purpose (teardown), not an error' : null,
    },
    h('span', { class: 'ts', title: `line ${line.n}` }, lineTime(line.ts_ms)),
    h('span', { class: `src src-${this.colourOf(line.source)}`, title: sourceTitle(line) }, sourceLabel(line)),
    kind === 'teardown' ? h('span', { class: 'ln-tag', 'data-test': 'teardown-tag' }, 'teardown') : null,
    kind === 'failure' ? h('span', { class: 'ln-tag ln-tag-fail' }, 'failure') : null,
    this.renderText(line.text, []));
  }

  renderText(text, ranges) {
    const body = h('span', { class: 'txt' });
    for (const { text: part, style, mark } of markSegments(parseAnsi(text), ranges)) {
      const node = styled(part, style);
      body.append(mark ? h('mark', { class: 'hit' }, node) : node);
    }
    return body;
  }

  renderMarker(text) {
    this.lastSource = null;
    return h('div', { class: 'ln ln-marker', 'data-test': 'log-marker' }, h('span', { class: 'txt' }, text));
  }

  /** The queue view, for "First failure" (which tasks failed). */
  setView(view) {
    this.view = view;
    this.updateFailure();
  }

  updateFailure() {
    const index = firstFailureIndex(this.records.map((r) => r.line), this.view, stripAnsi);
    this.failureButton.hidden = index === -1 && !(this.truncated() && failureTarget(this.view));
    return index;
  }

  /** The first failure among the lines kept, or in the whole log once it outgrew them. */
  async jumpToFailure() {
    const index = this.updateFailure();
    const line = this.truncated() ? await this.findFailureLine() : null;
    if (line !== null) await this.goToLine(line);
    else if (index !== -1) this.focus(this.records[index]);
  }

  /** The line number of the first failure, as the server's search finds it; null when it finds none. */
  async findFailureLine() {
    const search = failureSearch(this.view);
    if (!search) return null;
    try {
      const found = await this.api.search(search.q, search.regex);
      const index = firstFailureIndex(found.hits, this.view, stripAnsi);
      return index === -1 ? null : found.hits[index].line;
    } catch {
      return null;
    }
  }

  /** Shows line `n`: in the tail when it is kept there, else loaded around it from the server. */
  async goToLine(n) {
    const record = n >= this.firstKeptLine() ? this.records.find((r) => r.line.n === n) : null;
    if (record) return this.focus(record);
    return this.openExcerpt(Math.max(1, n - EXCERPT_LINES / 2), n);
  }

  /** Outlines a line of the tail and scrolls to it. */
  focus(record) {
    if (this.excerpt?.shown) this.closeExcerpt();
    this.setFollow(false);
    for (const old of this.lines.querySelectorAll('.ln-focus')) old.classList.remove('ln-focus');
    record.el.classList.add('ln-focus');
    record.el.scrollIntoView({ block: 'center' });
    return record;
  }

  /**
   * Highlights every match of `query` in the lines kept and shows the
   * first; once the log outgrew them, the server searches it whole and its
   * hits are the matches.
   */
  search(query) {
    this.query = query;
    this.matches = [];
    this.serverHits = null;
    clearTimeout(this.searchTimer);
    for (const record of this.records) this.mark(record);
    this.current = this.matches.length ? 0 : -1;
    if (query && this.truncated()) {
      this.matchCount.textContent = 'searching the whole log…';
      this.searchTimer = setTimeout(() => this.searchServer(query), SEARCH_DELAY_MS);
      return;
    }
    this.showMatch(true);
  }

  async searchServer(query) {
    let found;
    try {
      found = await this.api.search(query, false);
    } catch (e) {
      if (query === this.query) this.matchCount.textContent = `search failed: ${e.message}`;
      return;
    }
    if (query !== this.query) return;
    this.serverHits = found.hits.map((hit) => hit.line);
    this.serverMatches = found.matches;
    this.current = this.serverHits.length ? 0 : -1;
    await this.showServerHit();
  }

  async showServerHit() {
    const n = this.serverHits.length;
    this.prevButton.disabled = n === 0;
    this.nextButton.disabled = n === 0;
    this.matchCount.textContent = n === 0 ? 'no matches'
      : `${this.current + 1} of ${formatCount(this.serverMatches)} in the whole log`;
    if (n === 0) return;
    const record = await this.goToLine(this.serverHits[this.current]);
    for (const old of this.element.querySelectorAll('mark.current')) old.classList.remove('current');
    record?.el.querySelector('mark.hit')?.classList.add('current');
  }

  /** New lines while a search is open: their matches join the end of the list. */
  markNew(records) {
    const current = this.matches[this.current];
    this.matches = this.matches.filter((m) => m.isConnected);
    for (const record of records) this.mark(record);
    if (this.serverHits) return;
    this.current = current?.isConnected ? this.matches.indexOf(current) : (this.matches.length ? 0 : -1);
    this.showMatch(false);
  }

  mark(record) {
    this.matches.push(...this.highlight(record));
  }

  /** Re-renders a line's text with the query's matches marked; its <mark>s. */
  highlight(record) {
    const { line, el } = record;
    if (line.marker) return [];
    record.plain ??= stripAnsi(line.text ?? '');
    const ranges = findMatches(record.plain, this.query);
    if (!ranges.length && !record.marked) return [];
    el.querySelector('.txt').replaceWith(this.renderText(line.text, ranges));
    record.marked = ranges.length > 0;
    return [...el.querySelectorAll('mark.hit')];
  }

  step(delta) {
    const hits = this.serverHits ?? this.matches;
    if (!hits.length) return;
    this.current = (this.current + delta + hits.length) % hits.length;
    if (this.serverHits) this.showServerHit();
    else this.showMatch(true);
  }

  showMatch(scroll) {
    for (const old of this.lines.querySelectorAll('mark.current')) old.classList.remove('current');
    const n = this.matches.length;
    this.prevButton.disabled = n === 0;
    this.nextButton.disabled = n === 0;
    this.matchCount.textContent = !this.query ? ''
      : n === 0 ? 'no matches' : `${this.current + 1} of ${formatCount(n)}`;
    const mark = this.matches[this.current];
    if (!mark) return;
    mark.classList.add('current');
    if (scroll) {
      if (this.excerpt?.shown) this.closeExcerpt();
      this.setFollow(false);
      mark.scrollIntoView({ block: 'center', inline: 'nearest' });
    }
  }

  colourOf(source) {
    let colour = this.sourceColours.get(source);
    if (colour === undefined) {
      colour = this.sourceColours.size % SOURCE_COLOURS;
      this.sourceColours.set(source, colour);
    }
    return colour;
  }

  scrollToEnd() {
    this.lines.scrollTop = this.lines.scrollHeight;
    this.autoScrollTop = this.lines.scrollTop;
  }

  onScroll() {
    const el = this.lines;
    // The scroll event of our own scrollToEnd arrives later: it must not
    // turn Follow back on after the reader turned it off meanwhile.
    if (el.scrollTop === this.autoScrollTop) return;
    this.autoScrollTop = undefined;
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    if (atEnd !== this.follow) this.setFollow(atEnd);
  }
}

/** A text node, or a span whose classes and colours come from an ANSI style. */
/** A line's source, with its shard for a sharded queue: `s2 task:t3`. */
function sourceLabel(line) {
  return line.shard === undefined ? line.source : `s${line.shard} ${line.source}`;
}

function sourceTitle(line) {
  return line.shard === undefined ? line.source : `shard ${line.shard}: ${line.source}`;
}

function styled(text, style) {
  const plain = style.fg === null && style.bg === null && !style.bold && !style.dim
    && !style.italic && !style.underline && !style.inverse;
  if (plain) return document.createTextNode(text);
  const span = document.createElement('span');
  span.textContent = text;
  let { fg, bg } = style;
  if (style.inverse) {
    [fg, bg] = [bg ?? 'default-bg', fg ?? 'default-fg'];
  }
  const classes = [];
  if (style.bold) classes.push('a-b');
  if (style.dim) classes.push('a-d');
  if (style.italic) classes.push('a-i');
  if (style.underline) classes.push('a-u');
  // Palette colours are classes; rgb() strings go through CSSOM, which only
  // accepts a colour value, so no markup can come in this way.
  if (typeof fg === 'number') classes.push(`a-fg${fg}`);
  else if (fg === 'default-bg') classes.push('a-fg-inv');
  else if (fg) span.style.color = fg;
  if (typeof bg === 'number') classes.push(`a-bg${bg}`);
  else if (bg === 'default-fg') classes.push('a-bg-inv');
  else if (bg) span.style.backgroundColor = bg;
  span.className = classes.join(' ');
  return span;
}
