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

/** Source labels of the tasks that ended FAIL, ERROR or TIMEOUT, in the queue's order. */
export function failingSources(view) {
  return (view?.tasks ?? []).filter((t) => FAILED_RESULTS.has(t.result)).map((t) => `task:${t.id}`);
}

/**
 * Index of the line to jump to for "first failure": the first line flagged
 * `failure` (the profile's failure_regex) or the first line of the first
 * failing task, whichever comes first in the log; -1 when there is none.
 */
export function firstFailureIndex(lines, view) {
  const first = failingSources(view)[0];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.marker) continue;
    if (line.failure || (first !== undefined && line.source === first)) return i;
  }
  return -1;
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
