// The log panel: lines arrive in any amount (a replay can be hundreds of
// thousands), and the page must stay responsive. So lines are queued and
// drawn at most every FLUSH_MS, in an animation frame, and only the last
// `maxLines` are kept, in the DOM and in the queue (so a burst, or a hidden
// tab, never builds lines that would be dropped at once); the note above
// the log says so and links to the full text. "Follow" keeps the view at the bottom;
// scrolling up turns it off, scrolling back to the bottom turns it on again.

import { parseAnsi } from './ansi.js';
import { h, replace } from './dom.js';
import { formatCount } from './format.js';

const SOURCE_COLOURS = 6;
const FLUSH_MS = 100;

export class LogView {
  constructor({ maxLines = 5000, fullLogUrl }) {
    this.maxLines = maxLines;
    this.fullLogUrl = fullLogUrl;
    this.pending = [];
    this.received = 0;
    this.shown = 0;
    this.frame = null;
    this.timer = null;
    this.lastFlush = 0;
    this.follow = true;
    this.sourceColours = new Map();

    this.status = h('span', { class: 'conn', role: 'status', 'aria-live': 'polite' });
    this.counter = h('span', { class: 'log-count muted' }, '0 lines');
    this.followBox = h('input', { type: 'checkbox', checked: true, 'data-test': 'follow' });
    this.followBox.addEventListener('change', () => this.setFollow(this.followBox.checked));
    this.wrapBox = h('input', { type: 'checkbox' });
    this.wrapBox.addEventListener('change', () => this.lines.classList.toggle('wrap', this.wrapBox.checked));
    this.note = h('div', { class: 'log-note', hidden: true });
    this.empty = h('div', { class: 'log-empty' }, 'No output yet.');
    this.lines = h('div', {
      class: 'log', role: 'log', tabindex: '0', 'aria-label': 'Queue log', 'data-test': 'log',
    }, this.empty);
    this.lines.addEventListener('scroll', () => this.onScroll(), { passive: true });

    this.element = h('section', { class: 'card log-panel', 'aria-label': 'Log' },
      h('div', { class: 'log-toolbar' },
        h('h2', {}, 'Log'),
        this.status,
        this.counter,
        h('span', { class: 'spacer' }),
        h('label', { class: 'toggle', title: 'Keep the newest line in view' }, this.followBox, 'Follow'),
        h('label', { class: 'toggle', title: 'Wrap long lines' }, this.wrapBox, 'Wrap'),
        h('a', { class: 'btn btn-small', href: fullLogUrl, target: '_blank', rel: 'noopener' }, 'Raw log'),
      ),
      this.note,
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
    for (const line of lines) this.pending.push(line);
    this.received += lines.length;
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
    for (const line of batch) fragment.append(line.marker ? this.renderMarker(line.marker) : this.renderLine(line));
    if (this.empty.isConnected) this.empty.remove();
    // Drop the oldest lines in one go, before adding, so the DOM never holds
    // more than maxLines.
    const excess = this.shown + batch.length - this.maxLines;
    if (excess >= this.shown) {
      this.lines.replaceChildren();
      this.shown = 0;
    } else if (excess > 0) {
      const range = document.createRange();
      range.setStartBefore(this.lines.firstElementChild);
      range.setEndAfter(this.lines.children[excess - 1]);
      range.deleteContents();
      this.shown -= excess;
    }
    this.lines.append(fragment);
    this.shown += batch.length;
    this.updateCounts();
    if (this.follow) this.scrollToEnd();
  }

  updateCounts() {
    this.counter.textContent = `${formatCount(this.received)} line${this.received === 1 ? '' : 's'}`;
    this.lines.dataset.received = String(this.received);
    const dropped = this.received > this.maxLines;
    this.note.hidden = !dropped;
    if (dropped) {
      replace(this.note,
        `Showing the last ${formatCount(this.maxLines)} of ${formatCount(this.received)} lines. `,
        h('a', { href: this.fullLogUrl, target: '_blank', rel: 'noopener' }, 'Open the full log'));
    }
  }

  renderLine({ source, stream, text }) {
    const body = h('span', { class: 'txt' });
    for (const { text: part, style } of parseAnsi(text)) {
      body.append(styled(part, style));
    }
    return h('div', { class: `ln ln-${stream}` },
      h('span', { class: `src src-${this.colourOf(source)}`, title: source }, source),
      body);
  }

  renderMarker(text) {
    return h('div', { class: 'ln ln-marker' }, h('span', { class: 'txt' }, text));
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
  }

  onScroll() {
    const el = this.lines;
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    if (atEnd !== this.follow) this.setFollow(atEnd);
  }
}

/** A text node, or a span whose classes and colours come from an ANSI style. */
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
