// Lines of a long log that the log panel no longer holds (it keeps the
// newest few thousand), loaded from the server by number
// (`/api/queue/{id}/log/lines`) when a search hit, "First failure" or
// "Load earlier lines" needs them. Shown in place of the live tail, with
// Earlier / Later and a way back to the end; the tail keeps receiving lines
// meanwhile. Lines from the file carry no timestamp (the file does not keep
// them) and no teardown or failure mark.

import { h, replace } from './dom.js';
import { formatCount } from './format.js';

export const EXCERPT_LINES = 400;

export class LogExcerpt {
  /** `load(from, limit)` → {lines, total_lines}; `render(line)` → element; `onClose()`. */
  constructor({ load, render, onClose }) {
    this.load = load;
    this.render = render;
    this.from = 1;
    this.count = 0;
    this.total = 0;
    this.records = [];
    this.label = h('span', { class: 'muted small', 'data-test': 'excerpt-range' });
    this.earlier = h('button', {
      class: 'btn btn-small', type: 'button', 'data-test': 'excerpt-earlier',
      onclick: () => this.open(Math.max(1, this.from - EXCERPT_LINES)),
    }, 'Earlier');
    this.later = h('button', {
      class: 'btn btn-small', type: 'button', 'data-test': 'excerpt-later',
      onclick: () => this.open(this.from + this.count),
    }, 'Later');
    this.lines = h('div', { class: 'log log-excerpt', role: 'log', tabindex: '0', 'data-test': 'log-excerpt' });
    this.bar = h('div', { class: 'log-excerpt-bar' },
      this.label, ' ', this.earlier, ' ', this.later, ' ',
      h('button', {
        class: 'btn btn-small', type: 'button', 'data-test': 'excerpt-close', onclick: () => onClose(),
      }, 'Back to the end'));
    this.element = h('div', { class: 'log-excerpt-box', hidden: true }, this.bar, this.lines);
  }

  get shown() { return !this.element.hidden; }

  hide() { this.element.hidden = true; }

  /**
   * Loads lines from `from` and shows them; `focus` (a line number) is
   * outlined and scrolled to. Returns that line's {line, el}, or null.
   */
  async open(from, focus = null) {
    const page = await this.load(from, EXCERPT_LINES);
    this.from = from;
    this.count = page.lines.length;
    this.total = page.total_lines;
    const last = from + Math.max(0, this.count - 1);
    replace(this.label, this.count
      ? `Lines ${formatCount(from)}–${formatCount(last)} of ${formatCount(this.total)}, read from the stored log.`
      : `No line ${formatCount(from)}: the log has ${formatCount(this.total)}.`);
    this.earlier.disabled = from <= 1;
    this.later.disabled = last >= this.total;
    this.records = page.lines.map((line) => {
      const numbered = { ...line, n: line.line };
      return { line: numbered, el: this.render(numbered) };
    });
    replace(this.lines, ...this.records.map((r) => r.el));
    this.element.hidden = false;
    const target = focus === null ? null : this.records[focus - from] ?? null;
    if (target) {
      target.el.classList.add('ln-focus');
      target.el.scrollIntoView({ block: 'center' });
    } else {
      this.lines.scrollTop = 0;
    }
    return target;
  }
}
