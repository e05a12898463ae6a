// Bisects as the dashboard shows them: whether a failed task offers
// "Bisect this failure", which commit it sends as `good`, the request it
// posts, and the bisect page's line of commits with each one's verdict and
// tone. Pure, so it is tested without a browser
// (tests/browser/bisect_logic.test.mjs); bisect_page.js, bisects_page.js and
// queue_page.js draw it.

/** The results a bisect can search for: a test that ran and failed. */
const BISECTABLE = new Set(['FAIL', 'TIMEOUT']);

/** A step's verdict → the tone it is drawn in, as results are elsewhere. */
const VERDICT_TONE = { pass: 'ok', fail: 'bad', flaky: 'flaky', skipped: 'skipped' };

const STATUS_TONE = {
  Running: 'info', Found: 'ok', Inconclusive: 'warn', Error: 'severe', Cancelled: 'warn',
};

const ENDED = new Set(['Found', 'Inconclusive', 'Error', 'Cancelled']);

export const shortSha = (commit) => (commit ? commit.slice(0, 10) : '—');

/**
 * Whether a task of a queue offers "Bisect this failure": it failed or timed
 * out (an ERROR is the setup's fault, not the code's), no quarantine excuses
 * it, and the queue knows the commit it ran (the bisect's `bad`).
 */
export function canBisect(view, task) {
  return Boolean(view?.commit) && BISECTABLE.has(task?.result) && !task.quarantined;
}

/**
 * The newest commit where the test passed before this queue failed it, from
 * the test's runs (newest first, as `GET /api/tests/history` lists them), or
 * null: then the bisect walks back from `bad` itself.
 *
 * Only runs older than this queue's count (a pass after it may be a fix on
 * top of the failure, not an ancestor before it), so without this queue's
 * own runs in the list nothing is known. A commit that also failed in that
 * history is flaky, not good; `bad` itself is never good.
 */
export function goodCommit(runs, queueId, bad) {
  const list = runs ?? [];
  const own = list.findIndex((r) => r.queue_id === queueId);
  if (own === -1) return null;
  const older = list.slice(own).filter((r) => r.queue_id !== queueId && r.commit && r.commit !== bad);
  const failedOn = new Set(older.filter((r) => r.result !== 'PASS').map((r) => r.commit));
  return older.find((r) => r.result === 'PASS' && !failedOn.has(r.commit))?.commit ?? null;
}

/**
 * The body of `POST /api/bisect` for a failed task of `view`: the queue's
 * repository, profile and requirements, its commit as `bad`, the task with
 * its timeout, and `good` only when one is known.
 */
export function bisectRequest(view, task, good) {
  const body = {
    source: { repo: view.source.repo },
    bad: view.commit,
    tasks: [{ id: task.id, scenario: task.scenario }],
  };
  // A TIMEOUT is only reproduced with the timeout it ran under.
  if (task.timeout_s) body.tasks[0].timeout_s = task.timeout_s;
  if (good) body.good = good;
  if (view.profile) body.profile = view.profile;
  if (view.requires?.length) body.requires = [...view.requires];
  return body;
}

/** A bisect's status pill: {text, tone}; `ended` once it will not move. */
export function bisectStatus(bisect) {
  const status = bisect?.status ?? 'Running';
  return { text: status, tone: STATUS_TONE[status] ?? 'idle', ended: ENDED.has(status) };
}

/**
 * The range as the page draws it, oldest first: one item per commit,
 * `{commit, short, subject, author, verdict, majority, tone, marks, queues}`.
 *
 * The commits come from the view's `commits` (the first-parent range, oldest
 * first, each `{commit, subject, author}`), with `good` before and `bad`
 * after it when it leaves them out, and any step outside it (a walk-back
 * before the range was known) in front, oldest step first. Without a range
 * only `good`, the steps and `bad` are known, in that order.
 *
 * A commit may have several steps (its search step, then a confirmation):
 * its queues are all of theirs (`{id, label}`), its verdict the last one's; while one of
 * them is undecided it is `running`. A commit never queued has verdict null
 * and tone `untested`. `marks` says which is `good`, `bad` and `first bad`.
 */
export function commitLine(bisect) {
  const steps = stepsByCommit(bisect.steps ?? []);
  const culprit = bisect.first_bad?.commit ?? null;
  return rangeCommits(bisect).map((c) => {
    const mine = steps.get(c.commit) ?? [];
    const last = mine.at(-1);
    const running = mine.some((s) => !s.verdict);
    const marks = [];
    if (c.commit === bisect.good) marks.push('good');
    if (c.commit === culprit) marks.push('first bad');
    if (c.commit === bisect.bad) marks.push('bad');
    const about = c.commit === culprit ? bisect.first_bad : c;
    return {
      commit: c.commit,
      short: shortSha(c.commit),
      subject: about.subject ?? null,
      author: about.author ?? null,
      verdict: running ? null : (last?.verdict ?? null),
      majority: running ? null : (last?.majority ?? null),
      tone: toneOf(last, running),
      marks,
      queues: queueLinks(mine),
    };
  });
}

/**
 * A commit's step queues as `{id, label}`: "run 1", "run 2" for the search's
 * runs, "confirm 1" for a confirmation's (ids are long; the label is what
 * the line shows).
 */
function queueLinks(steps) {
  return steps.flatMap((s) => (s.queues ?? []).map((id, i) => ({
    id, label: `${s.phase === 'confirm' ? 'confirm' : 'run'} ${i + 1}`,
  })));
}

function stepsByCommit(steps) {
  const by = new Map();
  for (const step of steps) by.set(step.commit, [...(by.get(step.commit) ?? []), step]);
  return by;
}

function toneOf(last, running) {
  if (!last) return 'untested';
  if (running) return 'running';
  return VERDICT_TONE[last.verdict] ?? 'untested';
}

/** The commits of the line, oldest first, each once, as `{commit, subject?, author?}`. */
function rangeCommits(bisect) {
  const range = bisect.commits ?? [];
  const inRange = new Set(range.map((c) => c.commit));
  const stepCommits = (bisect.steps ?? []).map((s) => s.commit);
  const line = [];
  const seen = new Set();
  const add = (c) => {
    if (!c?.commit || seen.has(c.commit)) return;
    seen.add(c.commit);
    line.push(c);
  };
  if (range.length) {
    // Steps outside the range were walked back to, each older than the last.
    const outside = stepCommits.filter((s) => !inRange.has(s) && s !== bisect.good && s !== bisect.bad);
    for (const commit of outside.reverse()) add({ commit });
    if (bisect.good && !inRange.has(bisect.good)) add({ commit: bisect.good });
    range.forEach(add);
    if (bisect.bad && !inRange.has(bisect.bad)) add({ commit: bisect.bad });
    return line;
  }
  add(bisect.good ? { commit: bisect.good } : null);
  for (const commit of stepCommits.filter((s) => s !== bisect.bad)) add({ commit });
  add(bisect.bad ? { commit: bisect.bad } : null);
  return line;
}

/** "3 steps, 1 skipped" — how far the search has come. */
export function stepSummary(bisect) {
  const steps = bisect.steps ?? [];
  const decided = steps.filter((s) => s.verdict);
  const skipped = decided.filter((s) => s.verdict === 'skipped').length;
  const flaky = decided.filter((s) => s.verdict === 'flaky').length;
  const parts = [`${decided.length} ${decided.length === 1 ? 'step' : 'steps'} decided`];
  if (skipped) parts.push(`${skipped} skipped`);
  if (flaky) parts.push(`${flaky} flaky`);
  return parts.join(', ');
}

/** The dashboard's page of a bisect. */
export const bisectHref = (id) => `#/bisect/${encodeURIComponent(id)}`;
