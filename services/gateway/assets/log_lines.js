// Decisions about log lines, without the DOM: how a line is classed
// (teardown output is muted, never an error), whether compact mode shows its
// source label, where a search matches, and where the first failure is.

/** `teardown` (a process stopped on purpose), `failure` (matched failure_regex), else the stream. */
export function lineKind(line) {
  if (line.teardown) return 'teardown';
  if (line.failure) return 'failure';
  return line.stream ?? 'stdout';
}

/** Compact mode shows a source label only where it changes. */
export const showsSource = (compact, previousSource, source) => !compact || previousSource !== source;

/** [start, end) of every case-insensitive match of `query` in `text`. */
export function findMatches(text, query) {
  if (!query) return [];
  const hay = text.toLowerCase();
  const needle = query.toLowerCase();
  const ranges = [];
  for (let at = hay.indexOf(needle); at !== -1; at = hay.indexOf(needle, at + needle.length)) {
    ranges.push([at, at + needle.length]);
  }
  return ranges;
}

/**
 * Splits styled segments ([{text, style}]) at the match ranges of their
 * joined text: [{text, style, mark}], so a match keeps its colours.
 */
export function markSegments(segments, ranges) {
  if (!ranges.length) return segments.map((s) => ({ ...s, mark: false }));
  const out = [];
  let offset = 0;
  let r = 0;
  for (const { text, style } of segments) {
    let at = 0;
    while (at < text.length) {
      const pos = offset + at;
      while (r < ranges.length && ranges[r][1] <= pos) r++;
      const range = ranges[r];
      let end;
      let mark = false;
      if (range && range[0] <= pos) { end = range[1] - offset; mark = true; } else {
        end = range ? range[0] - offset : text.length;
      }
      end = Math.min(end, text.length);
      out.push({ text: text.slice(at, end), style, mark });
      at = end;
    }
    offset += text.length;
  }
  return out;
}

const FAILED_RESULTS = new Set(['FAIL', 'ERROR', 'TIMEOUT']);

/** What a line that reports a failure says when no case names it. */
export const FAILURE_PATTERN = /\b(FAIL|FAILED|ERROR)\b|Assertion/;

/** Source labels of the tasks that ended FAIL, ERROR or TIMEOUT, in the queue's order. */
export function failingSources(view) {
  return (view?.tasks ?? []).filter((t) => FAILED_RESULTS.has(t.result)).map((t) => `task:${t.id}`);
}

/**
 * Where "first failure" looks: the first failing task's source and the
 * names of its failed cases (JUnit or console, `name` without its class),
 * or null when no task failed.
 */
export function failureTarget(view) {
  const task = (view?.tasks ?? []).find((t) => FAILED_RESULTS.has(t.result));
  if (!task) return null;
  const cases = (task.junit?.cases ?? []).filter((c) => c.result === 'failed' || c.result === 'error');
  const names = cases.length ? cases.map((c) => c.name)
    : (task.junit?.failed_cases ?? []).map((n) => n.slice(n.lastIndexOf('.') + 1));
  return { source: `task:${task.id}`, cases: names.filter((n) => n) };
}

/**
 * Which of `lines` (each {source, text, failure?}) "first failure" lands
 * on, as a ranked pick: the first failing task's first line naming a failed
 * case and saying it failed, else naming it, else its first line matching
 * FAILURE_PATTERN or flagged by the profile's failure_regex; without a
 * failing task, the first flagged line. Never the task's header while a
 * better line is there; its first line only when nothing else is. -1 when
 * there is none. `plain` strips a line's escapes (ansi.js's stripAnsi).
 */
export function firstFailureIndex(lines, view, plain = (t) => t ?? '') {
  const target = failureTarget(view);
  const own = (line) => !line.marker && (!target || line.source === target.source);
  const find = (test) => lines.findIndex((line) => own(line) && test(line, plain(line.text)));
  const names = target?.cases ?? [];
  const namesCase = (text) => names.some((n) => text.includes(n));
  const picks = [
    (_, text) => namesCase(text) && FAILURE_PATTERN.test(text),
    (_, text) => namesCase(text),
    (line, text) => line.failure || FAILURE_PATTERN.test(text),
  ];
  if (!target) return lines.findIndex((line) => !line.marker && line.failure);
  for (const pick of names.length ? picks : picks.slice(2)) {
    const index = find(pick);
    if (index !== -1) return index;
  }
  return find(() => true);
}

const MAX_QUERY = 1024;

/** `text` as a regular expression that matches it literally. */
const escapeRegex = (text) => text.replace(/[.*+?^${}()|[\]\\\-]/g, '\\$&');

/**
 * The server search (`regex`) that finds every line "first failure" could
 * land on: the failed cases' names and the built-in words; null when no
 * task failed. Cases that would make it too long are left out.
 */
export function failureSearch(view) {
  const target = failureTarget(view);
  if (!target) return null;
  let q = FAILURE_PATTERN.source;
  for (const name of target.cases) {
    const more = `${q}|${escapeRegex(name)}`;
    if (more.length > MAX_QUERY) break;
    q = more;
  }
  return { q, regex: true };
}

/** A line's time as the "Time" toggle shows it: local `HH:MM:SS.mmm`; '' without one. */
export function lineTime(tsMs) {
  if (typeof tsMs !== 'number') return '';
  const d = new Date(tsMs);
  const two = (n) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** The worker's own line saying it stopped the queue ("queue cancelled by a user", "queue deleted"). */
export const saysStopped = (line) => line.source === 'worker' && line.stream === 'system'
  && /^queue (cancelled|deleted)\b/.test(line.text ?? '');

/**
 * The log's last line for a queue that was stopped: what happened and by
 * what; null when nothing was stopped, or when the worker's log already
 * said so (`workerSaid`), so it is said once.
 */
export function endNote(kind, view, workerSaid = false) {
  if (workerSaid) return null;
  if (kind === 'deleted') return 'queue deleted while open (its log and files are gone)';
  if (view?.status === 'Cancelled') return `queue cancelled — ${view.reason ?? 'no reason given'}`;
  return null;
}
