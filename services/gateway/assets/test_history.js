// Test history as the dashboard shows it: the Tests page's filters in the
// URL and the API query, and each test's strip of dots and duration trend.
// Pure, so it is tested without a browser; tests_page.js draws it. A test's
// state and what a failed task says about its past (`failure_note`) are
// decided by the server (testarena_events::test_state), never here.

export const TEST_STATES = ['flaky', 'failing', 'new', 'passing'];

const passed = (result) => result === 'PASS' || result === 'FLAKY';

/** The Tests page's filters from its URL (`#/tests?state=flaky&q=uart`). */
export function testFiltersFromParams(params) {
  const state = params.get('state');
  const q = params.get('q')?.trim();
  return { state: TEST_STATES.includes(state) ? state : null, q: q || null };
}

/** The page's hash for `filters`; `null` values are left out. */
export function testsHash(filters) {
  const query = new URLSearchParams();
  if (filters.state) query.set('state', filters.state);
  if (filters.q) query.set('q', filters.q);
  const text = query.toString();
  return text ? `#/tests?${text}` : '#/tests';
}

/** `/api/tests?...` for `filters`. */
export function testsApiPath(filters) {
  const query = new URLSearchParams();
  if (filters.state) query.set('state', filters.state);
  if (filters.q) query.set('q', filters.q);
  const text = query.toString();
  return text ? `/api/tests?${text}` : '/api/tests';
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
