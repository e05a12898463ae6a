// A queue's outcome at a glance: its status (where it is in its life) and,
// once it ended, its verdict (how it went). Pure, so the words and tones are
// tested without a browser; badges.js turns them into elements.
//
// The view carries `verdict` (passed | failed | error | cancelled | null);
// an older gateway does not, so the verdict is derived from the status and
// the counts the same way the projector decides it.

const STATUS_TONE = {
  Waiting: 'idle', Running: 'info', Finished: 'done', Error: 'severe', Cancelled: 'warn',
};
const VERDICT_TONE = {
  passed: 'ok', failed: 'bad', error: 'severe', cancelled: 'warn',
};
const FAILING = ['fail', 'timeout', 'error'];

/** `passed`, `failed`, `error`, `cancelled`, or null while the queue has not ended. */
export function verdictOf(view) {
  if (view?.verdict !== undefined) return view.verdict ?? null;
  switch (view?.status) {
    case 'Finished':
      return FAILING.some((k) => (view.counts?.[k] ?? 0) > 0) ? 'failed' : 'passed';
    case 'Error': return 'error';
    case 'Cancelled': return 'cancelled';
    default: return null;
  }
}

/**
 * The pills to show, in order: [{kind: 'status'|'verdict', text, tone, title}].
 * A verdict that only repeats the status (Error → error) is left out, so an
 * Error queue says "Error" once.
 */
export function outcomeParts(view) {
  const status = view.status;
  const parts = [{
    kind: 'status', text: status, tone: STATUS_TONE[status] ?? 'idle', title: `Status: ${status}`,
  }];
  const verdict = verdictOf(view);
  if (verdict && verdict !== status.toLowerCase()) {
    parts.push({
      kind: 'verdict', text: verdict, tone: VERDICT_TONE[verdict] ?? 'idle', title: `Verdict: ${verdict}`,
    });
  }
  return parts;
}

/** A few words for the page title and tooltips: "Finished, failed". */
export function outcomeWords(view) {
  return outcomeParts(view).map((p) => p.text).join(', ');
}
