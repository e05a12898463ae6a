// Test history as the dashboard shows it: the Tests page's filters and
// page in the URL and the API query, a test's own page's URL, each test's
// strip of dots and duration trend, and a quarantine's history line.
// Pure, so it is tested without a browser; tests_page.js draws it. A test's
// state and what a failed task says about its past (`failure_note`) are
// decided by the server (testarena_events::test_state), never here.

export const TEST_STATES = ['flaky', 'failing', 'new', 'passing'];

const passed = (result) => result === 'PASS' || result === 'FLAKY';

/** Tests on one page of the Tests page. */
export const TESTS_PER_PAGE = 100;

const FILTER_KEYS = ['state', 'repo', 'profile', 'q', 'cursor'];

/**
 * The Tests page's filters and page from its URL
 * (`#/tests?state=flaky&repo=...&profile=qemu&q=uart&cursor=...`).
 */
export function testFiltersFromParams(params) {
  const value = (key) => params.get(key)?.trim() || null;
  const state = params.get('state');
  return {
    state: TEST_STATES.includes(state) ? state : null,
    repo: value('repo'),
    profile: value('profile'),
    q: value('q'),
    cursor: value('cursor'),
  };
}

function filterQuery(filters) {
  const query = new URLSearchParams();
  for (const key of FILTER_KEYS) if (filters[key]) query.set(key, filters[key]);
  return query;
}

/** The page's hash for `filters`; `null` values are left out. */
export function testsHash(filters) {
  const text = filterQuery(filters).toString();
  return text ? `#/tests?${text}` : '#/tests';
}

/** `/api/tests?...` for `filters`: one page of TESTS_PER_PAGE. */
export function testsApiPath(filters) {
  const query = filterQuery(filters);
  query.set('limit', String(TESTS_PER_PAGE));
  return `/api/tests?${query}`;
}

/** A test's own page: `#/test?repo=...&profile=...&task=...&case=...`. */
export function testHref(test) {
  const query = new URLSearchParams({ repo: test.repo });
  if (test.profile) query.set('profile', test.profile);
  query.set('task', test.task);
  if (test.case) query.set('case', test.case);
  return `#/test?${query}`;
}

/** The test a test page's URL names, or null without a repo and task. */
export function testFromParams(params) {
  const repo = params.get('repo');
  const task = params.get('task');
  if (!repo || !task) return null;
  return { repo, task, profile: params.get('profile') || null, case: params.get('case') || null };
}

/**
 * One line of a quarantine history: "Quarantined by team-fw: FW-1312",
 * "Quarantine ended by ci", "Quarantined automatically: flip rate 40 %".
 */
export function quarantineLine(record) {
  const who = record.by === 'auto' ? ' automatically' : ` by ${record.actor ?? 'a user'}`;
  const what = record.quarantined ? 'Quarantined' : 'Quarantine ended';
  return `${what}${who}${record.reason ? `: ${record.reason}` : ''}`;
}

/** The test's name: `task`, or `task › case`. */
export function testName(test) {
  return test.case ? `${test.task} › ${test.case}` : test.task;
}

/**
 * The strip of dots, oldest first: [{tone, title}] from the API's `recent`
 * (newest first). A `FLAKY` run (a pass on a retry) is amber, a pass green,
 * anything else red.
 */
export function stripDots(recent) {
  return [...(recent ?? [])].reverse().map((run) => {
    let tone = 'bad';
    if (passed(run.result)) tone = run.result === 'FLAKY' || run.try > 1 ? 'flaky' : 'ok';
    const retry = run.try > 1 ? ` (try ${run.try})` : '';
    return { tone, title: `${run.queue_id}: ${run.result}${retry}, ${run.duration_ms} ms` };
  });
}

/**
 * The duration trend as an SVG polyline's `points`, oldest left, in a
 * `width` × `height` box (the slowest run at the top); '' for under two runs.
 */
export function trendPoints(recent, width, height) {
  const runs = [...(recent ?? [])].reverse();
  if (runs.length < 2) return '';
  const max = Math.max(...runs.map((r) => r.duration_ms), 1);
  const step = width / (runs.length - 1);
  return runs.map((r, i) => {
    const x = (i * step).toFixed(1);
    const y = (height - 1 - ((height - 2) * r.duration_ms) / max).toFixed(1);
    return `${x},${y}`;
  }).join(' ');
}

/** "20 %" for a flip rate of 0.2. */
export function flipPercent(rate) {
  return `${Math.round((rate ?? 0) * 100)} %`;
}
