// The dashboard's pure parts, without a browser: outcome words and tones,
// filters ↔ URL ↔ API query, a source shortened in the middle, ETA math,
// log-line decisions and the events timeline. Run by scripts/test-browser
// even where Chromium is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { outcomeParts, outcomeWords, verdictOf } from '../../services/gateway/assets/outcome.js';
import {
  apiQuery, canonicalStatus, describeFilters, filtersFromParams, firstPage, isFiltered, listHash,
  pageAfter,
} from '../../services/gateway/assets/list_filters.js';
import { shortenMiddle, sourceLabel } from '../../services/gateway/assets/source.js';
import { queueEtaMs, taskProgress } from '../../services/gateway/assets/eta.js';
import {
  endNote, findMatches, firstFailureIndex, lineKind, markSegments, saysStopped, showsSource,
} from '../../services/gateway/assets/log_lines.js';
import { describeEvent } from '../../services/gateway/assets/timeline.js';
import { formatAge, plural } from '../../services/gateway/assets/format.js';
import { changeText, load, offline, profileStates, runningLabel, takesNothing } from '../../services/gateway/assets/fleet.js';

const counts = (over = {}) => ({
  total: 2, waiting: 0, running: 0, pass: 2, fail: 0, timeout: 0, error: 0, skipped: 0, cancelled: 0, ...over,
});

// --- outcome -----------------------------------------------------------------

test('a finished queue with failures says Finished and failed, in different tones', () => {
  const parts = outcomeParts({ status: 'Finished', verdict: 'failed', counts: counts() });
  assert.deepEqual(parts.map((p) => [p.text, p.tone]), [['Finished', 'done'], ['failed', 'bad']]);
});

test('verdicts have distinct words and tones', () => {
  const tones = ['passed', 'failed', 'error', 'cancelled'].map((verdict) =>
    outcomeParts({ status: 'Finished', verdict }).at(-1).tone);
  assert.equal(new Set(tones).size, 4);
});

test('an Error queue says Error once', () => {
  assert.equal(outcomeWords({ status: 'Error', verdict: 'error' }), 'Error');
  assert.equal(outcomeWords({ status: 'Cancelled', verdict: 'cancelled' }), 'Cancelled');
  assert.equal(outcomeWords({ status: 'Running', verdict: null }), 'Running');
});

test('without a verdict field the verdict is derived from status and counts', () => {
  assert.equal(verdictOf({ status: 'Finished', counts: counts({ fail: 1 }) }), 'failed');
  assert.equal(verdictOf({ status: 'Finished', counts: counts({ timeout: 1 }) }), 'failed');
  assert.equal(verdictOf({ status: 'Finished', counts: counts() }), 'passed');
  assert.equal(verdictOf({ status: 'Error', counts: counts() }), 'error');
  assert.equal(verdictOf({ status: 'Running', counts: counts() }), null);
  assert.equal(verdictOf({ status: 'Finished', verdict: null, counts: counts({ fail: 1 }) }), null, 'a null verdict is taken as given');
});

// --- filters ↔ URL -------------------------------------------------------------

test('filters survive a round trip through the URL', () => {
  const filters = { status: 'Finished', q: 'nightly', repo: 'git.example.com/a/firmware', ref: 'main', commit: '3f2a', profile: 'qemu-arm', bisect: 'include', page: 3, cursor: null, from: 1 };
  const hash = listHash(filters);
  assert.equal(hash, '#/?q=nightly&repo=git.example.com%2Fa%2Ffirmware&ref=main&commit=3f2a&profile=qemu-arm&status=Finished&bisect=include&page=3');
  assert.deepEqual(filtersFromParams(new URLSearchParams(hash.slice(3))), filters);
});

test('pages go by cursor: the next page keeps the filters, its cursor and its first row', () => {
  const filters = filtersFromParams(new URLSearchParams('status=Error'));
  const next = pageAfter(filters, 'eyJiZWZvcmUiOjQyfQ', 51);
  const hash = listHash(next);
  assert.equal(hash, '#/?status=Error&cursor=eyJiZWZvcmUiOjQyfQ&from=51');
  assert.deepEqual(filtersFromParams(new URLSearchParams(hash.slice(3))), next);
  assert.equal(apiQuery(next, 50).toString(), 'cursor=eyJiZWZvcmUiOjQyfQ&per_page=50&status=Error');
  assert.equal(listHash(firstPage(next)), '#/?status=Error', 'a change of filter starts again');
  const bad = filtersFromParams(new URLSearchParams('cursor=not%20one&from=9'));
  assert.deepEqual([bad.cursor, bad.from], [null, 1], 'a cursor the API could not have given is dropped');
});

test('no filters is the plain list, and empty or unknown values are dropped', () => {
  assert.equal(listHash({ status: null, page: 1 }), '#/');
  const filters = filtersFromParams(new URLSearchParams('status=bogus&repo=%20%20&page=-2&x=1&bisect=exclude'));
  assert.deepEqual(filters, { status: null, q: null, repo: null, ref: null, commit: null, profile: null, bisect: null, page: 1, cursor: null, from: 1 });
  assert.equal(isFiltered(filters), false);
});

test('a status in any case is understood', () => {
  assert.equal(canonicalStatus('finished'), 'Finished');
  assert.equal(canonicalStatus(' RUNNING '), 'Running');
  assert.equal(canonicalStatus('done'), null);
  assert.equal(filtersFromParams(new URLSearchParams('status=cancelled')).status, 'Cancelled');
});

test('the API query carries the filters and the page size, never unknown keys', () => {
  const query = apiQuery({ status: 'Error', repo: 'fw', ref: null, commit: 'abc', page: 2 }, 50);
  assert.equal(query.toString(), 'page=2&per_page=50&repo=fw&commit=abc&status=Error');
  assert.equal(apiQuery({ bisect: 'only', page: 1 }, 50).toString(), 'page=1&per_page=50&bisect=only');
});

test('filters are described in words', () => {
  assert.equal(describeFilters({ status: 'Error' }), 'error queues');
  assert.equal(describeFilters({ bisect: 'only' }), 'bisect step queues');
  assert.equal(describeFilters({ repo: 'fw', q: 'x' }), 'queues matching search “x”, repo “fw”');
});

// --- source --------------------------------------------------------------------

test('a source reads as host/path', () => {
  assert.equal(sourceLabel('https://user@git.example.com/team/firmware.git'), 'git.example.com/team/firmware');
  assert.equal(sourceLabel('git@github.com:acme/firmware.git'), 'github.com/acme/firmware');
  assert.equal(sourceLabel('ssh://git@host:2222/x/firmware'), 'host:2222/x/firmware');
  assert.equal(sourceLabel('/srv/git/firmware/'), '/srv/git/firmware');
  assert.equal(sourceLabel('file:///tmp/repo'), '/tmp/repo');
});

test('a long source is shortened in the middle, keeping the host and the name', () => {
  const long = 'git.example.com/platform/embedded/boards/stm32/firmware';
  const short = shortenMiddle(long, 30);
  assert.equal(short.length, 30);
  assert.ok(short.startsWith('git.example.com'.slice(0, 10)), short);
  assert.ok(short.endsWith('/firmware'), short);
  assert.ok(short.includes('…'));
  assert.equal(shortenMiddle('short/name', 30), 'short/name');
  assert.notEqual(shortenMiddle('git.a.com/team-one/firmware', 20), shortenMiddle('git.b.com/team-two/firmware', 20));
});

// --- ETA -----------------------------------------------------------------------

const at = (ms) => new Date(ms).toISOString();

test('the ETA adds what is left of every task from recorded durations', () => {
  const now = 100_000;
  const view = {
    status: 'Running',
    tasks: [
      { status: 'Finished', expected_duration_ms: 5_000 },
      { status: 'Running', started_at: at(now - 4_000), expected_duration_ms: 10_000, progress: null },
      { status: 'Waiting', expected_duration_ms: 20_000 },
    ],
  };
  assert.equal(queueEtaMs(view, now), 6_000 + 20_000);
});

test('reported progress gives the running task its own pace', () => {
  const now = 100_000;
  const task = { status: 'Running', started_at: at(now - 12_000), expected_duration_ms: 60_000, progress: { done: 12, total: 24 } };
  assert.deepEqual(taskProgress(task), { done: 12, total: 24, fraction: 0.5 });
  assert.equal(queueEtaMs({ status: 'Running', tasks: [task] }, now), 12_000);
});

test('no ETA without history for every task left, or once the queue ended', () => {
  assert.equal(queueEtaMs({ status: 'Running', tasks: [{ status: 'Waiting', expected_duration_ms: null }] }), null);
  assert.equal(queueEtaMs({ status: 'Running', tasks: [{ status: 'Waiting' }] }), null);
  assert.equal(queueEtaMs({ status: 'Finished', tasks: [] }), null);
  const waiting = (available) => ({ status: 'Waiting', worker_available: available, tasks: [{ status: 'Waiting', expected_duration_ms: 5_000 }] });
  assert.equal(queueEtaMs(waiting(false)), null, 'no worker can run it: no ETA');
  assert.equal(queueEtaMs(waiting(true)), 5_000);
  assert.equal(queueEtaMs(waiting(null)), 5_000, 'no word from a scheduler: as before');
  assert.equal(taskProgress({ progress: { done: 1, total: 0 } }), null);
  assert.equal(taskProgress({ progress: null }), null);
});

test('an overrunning task counts as about to end, not negative', () => {
  const now = 100_000;
  assert.equal(queueEtaMs({ status: 'Running', tasks: [{ status: 'Running', started_at: at(now - 50_000), expected_duration_ms: 10_000 }] }, now), 0);
});

// --- log lines -----------------------------------------------------------------

test('teardown output is its own kind, never stderr', () => {
  assert.equal(lineKind({ stream: 'stderr', teardown: true, text: 'qemu-system-arm: terminating on signal 15' }), 'teardown');
  assert.equal(lineKind({ stream: 'stdout', failure: true }), 'failure');
  assert.equal(lineKind({ stream: 'stderr' }), 'stderr');
});

test('compact mode shows a source only where it changes', () => {
  assert.equal(showsSource(true, 'task:a', 'task:a'), false);
  assert.equal(showsSource(true, 'task:a', 'task:b'), true);
  assert.equal(showsSource(false, 'task:a', 'task:a'), true);
});

test('search finds every match, in any case, and marks it inside coloured segments', () => {
  assert.deepEqual(findMatches('Fail, then FAIL', 'fail'), [[0, 4], [11, 15]]);
  assert.deepEqual(findMatches('abc', ''), []);
  const red = { fg: 1 };
  const marked = markSegments([{ text: 'ok ', style: null }, { text: 'FAIL here', style: red }], findMatches('ok FAIL here', 'k fa'));
  assert.deepEqual(marked.map((s) => [s.text, s.style, s.mark]), [
    ['o', null, false], ['k ', null, true], ['FA', red, true], ['IL here', red, false],
  ]);
});

test('first failure lands on the failed case, else a failure word, in the first failing task; never its header first', () => {
  const view = { tasks: [{ id: 'a', result: 'PASS' }, { id: 'b', result: 'TIMEOUT' }, { id: 'c', result: 'FAIL' }] };
  const lines = [
    { source: 'worker', text: 'start' }, { source: 'task:a', text: 'ok', failure: true },
    { source: 'task:b', text: '==> task b' }, { source: 'task:b', text: 'waiting…' },
    { source: 'task:b', text: 'uart: Assertion failed: x == 1' }, { source: 'task:c', text: 'FAIL' },
  ];
  assert.equal(firstFailureIndex(lines, view), 4, 'the built-in pattern, not the header');
  assert.equal(firstFailureIndex(lines.slice(0, 4), view), 2, 'the first line only when nothing says more');
  const withCases = { tasks: [{ id: 'b', result: 'FAIL', junit: { failed_cases: ['unit.test_crc'], cases: [
    { name: 'test_len', result: 'passed' }, { name: 'test_crc', result: 'failed' },
  ] } }] };
  const caseLines = [
    { source: 'task:b', text: 'ERROR: something earlier' },
    { source: 'task:b', text: '[ RUN ] test_crc' },
    { source: 'task:b', text: 'test.c:12:test_crc:\x1b[31mFAIL\x1b[0m: expected 1' },
  ];
  assert.equal(firstFailureIndex(caseLines, withCases), 1, 'naming the case, without stripping');
  const plain = (t) => t.replace(/\x1b\[[0-9;]*m/g, '');
  assert.equal(firstFailureIndex(caseLines, withCases, plain), 2);
  assert.equal(firstFailureIndex([{ source: 'task:a', failure: true }], { tasks: [{ id: 'a', result: 'PASS' }] }), 0,
    'no failing task: the first flagged line');
  assert.equal(firstFailureIndex(lines, { tasks: [{ id: 'a', result: 'PASS' }] }), 1);
  assert.equal(firstFailureIndex([{ source: 'x', text: 'FAIL' }], { tasks: [] }), -1);
});

test('a stopped queue ends its log with what happened and by what', () => {
  assert.equal(endNote('end', { status: 'Cancelled', reason: 'cancelled by a user' }), 'queue cancelled — cancelled by a user');
  assert.match(endNote('deleted', null), /deleted/);
  assert.equal(endNote('end', { status: 'Finished' }), null);
});

test('a stop the worker\'s log already states is not said a second time', () => {
  const line = (text, source = 'worker', stream = 'system') => ({ text, source, stream });
  assert.ok(saysStopped(line('queue cancelled by a user')));
  assert.ok(saysStopped(line('queue deleted')));
  assert.ok(!saysStopped(line('queue cancelled by a user', 'task:t', 'stdout')), 'a task may print anything');
  assert.ok(!saysStopped(line('stopping the boot process group')));
  assert.equal(endNote('end', { status: 'Cancelled', reason: 'cancelled by a user' }, true), null);
  assert.equal(endNote('deleted', null, true), null);
});

// --- timeline and words --------------------------------------------------------

test('events read as sentences', () => {
  assert.equal(describeEvent({ type: 'started', worker: 'lab-3', attempt: 1, at: 'x' }).text, 'started on lab-3 (attempt 1)');
  const t = describeEvent({ type: 'task_finished', task_id: 'boot', result: 'FAIL', exit_code: 1, duration_ms: 3400 });
  assert.equal(t.text, 'task boot FAIL in 3.4 s (exit 1)');
  assert.equal(t.tone, 'bad');
  assert.equal(describeEvent({ type: 'finished', status: 'Cancelled', reason: 'cancelled by a user' }).text, 'finished: Cancelled — cancelled by a user');
  // A build restored from the cache is good news, not a failure.
  const cached = describeEvent({ type: 'stage_finished', stage: 'build', outcome: 'cached', duration_ms: 40, message: 'key 0123456789ab' });
  assert.equal(cached.text, 'build restored from the build cache in 40 ms — key 0123456789ab');
  assert.equal(cached.tone, 'ok');
  assert.equal(describeEvent({ type: 'submitted', source: { repo: 'r', ref: 'main' }, tasks: [{}] }).text, 'submitted: r @ main, 1 task');
  // A sharded queue's events say their shard.
  assert.equal(describeEvent({ type: 'task_claimed', task_id: 'uart', shard: 2 }).text, 'shard 2: task uart taken');
  assert.equal(describeEvent({ type: 'started', worker: 'lab-3', attempt: 2, shard: 0 }).text, 'shard 0: started on lab-3 (attempt 2)');
  assert.equal(describeEvent({ type: 'shard_finished', shard: 1 }).tone, 'idle');
});

test('counts read with correct plurals and ages in words', () => {
  assert.equal(plural(1, 'test'), '1 test');
  assert.equal(plural(2, 'test'), '2 tests');
  assert.equal(plural(0, 'error'), '0 errors');
  assert.equal(formatAge(new Date(0).toISOString(), 125_000), '2 min ago');
});

test('a worker lists ready profiles first, with the default marked and reasons kept', () => {
  const worker = {
    profiles: ['qemu-arm', 'sh'], default_profile: 'sh', slots: 2, busy: 2,
    state: { 'qemu-arm': { state: 'quarantined', reason: '3 boots in a row failed' }, sh: { state: 'ready', reason: null } },
  };
  assert.deepEqual(profileStates(worker), [
    { name: 'sh', state: 'ready', reason: null, isDefault: true },
    { name: 'qemu-arm', state: 'quarantined', reason: '3 boots in a row failed', isDefault: false },
  ]);
  assert.deepEqual(load(worker), { text: '2 of 2 slots busy', tone: 'full' });
  assert.equal(takesNothing(worker), false);
  assert.equal(takesNothing({ ...worker, state: { 'qemu-arm': { state: 'draining' }, sh: { state: 'draining' } } }), true);
  assert.deepEqual(load({ slots: 1, busy: 0 }), { text: '0 of 1 slot busy', tone: 'idle' });
});

test('an offline worker says whether it left or went silent, and since when', () => {
  const seen = '2026-01-01T00:00:00Z';
  assert.equal(offline({ presence: 'live', left: null, last_seen: seen }), null);
  assert.equal(offline({ last_seen: seen }), null, 'an older gateway listed only live workers');
  assert.deepEqual(offline({ presence: 'offline', left: '2026-01-01T00:01:00Z', last_seen: '2026-01-01T00:01:00Z' }),
    { how: 'left', since: '2026-01-01T00:01:00Z' });
  assert.deepEqual(offline({ presence: 'offline', left: null, last_seen: seen }), { how: 'silent', since: seen });
});

// --- test history --------------------------------------------------------------

import {
  flipPercent, quarantineLine, stripDots, testFiltersFromParams, testFromParams, testHref, testName, testsApiPath,
  testsHash, trendPoints,
} from '../../services/gateway/assets/test_history.js';

const run = (queue_id, result, commit, extra = {}) => ({
  queue_id, result, commit, try: 1, duration_ms: 100, ...extra,
});

test('the Tests page keeps its filters and page in the URL and the API query', () => {
  const filters = testFiltersFromParams(new URLSearchParams('state=flaky&q= uart &repo=/fw&profile=qemu&cursor=abc'));
  assert.deepEqual(filters, { state: 'flaky', repo: '/fw', profile: 'qemu', q: 'uart', cursor: 'abc' });
  assert.equal(testsHash(filters), '#/tests?state=flaky&repo=%2Ffw&profile=qemu&q=uart&cursor=abc');
  assert.equal(testsApiPath(filters), '/api/tests?state=flaky&repo=%2Ffw&profile=qemu&q=uart&cursor=abc&limit=100');
  const all = testFiltersFromParams(new URLSearchParams('state=nonsense'));
  assert.deepEqual(all, { state: null, repo: null, profile: null, q: null, cursor: null });
  assert.equal(testsHash(all), '#/tests');
  assert.equal(testsApiPath(all), '/api/tests?limit=100');
  assert.equal(testName({ task: 'uart', case: 'echo.long' }), 'uart › echo.long');
  assert.equal(flipPercent(0.2069), '21 %');
});

test('a test page has a URL of its own, and its quarantine history says who', () => {
  const t = { repo: 'https://git.example/fw.git', profile: null, task: 'uart', case: 'board.echo' };
  const href = testHref(t);
  assert.equal(href, '#/test?repo=https%3A%2F%2Fgit.example%2Ffw.git&task=uart&case=board.echo');
  assert.deepEqual(testFromParams(new URLSearchParams(href.split('?')[1])), t);
  assert.equal(testFromParams(new URLSearchParams('task=uart')), null);
  assert.equal(quarantineLine({ quarantined: true, by: 'user', actor: 'team-fw', reason: 'FW-1312' }),
    'Quarantined by team-fw: FW-1312');
  assert.equal(quarantineLine({ quarantined: false, actor: 'ci', reason: null }), 'Quarantine ended by ci');
  assert.equal(quarantineLine({ quarantined: true, by: 'auto', actor: null, reason: 'flip rate 40 %' }),
    'Quarantined automatically: flip rate 40 %');
});

test('the strip of dots runs oldest to newest, a pass on a retry amber', () => {
  const dots = stripDots([
    { queue_id: 'q3', result: 'PASS', try: 2, duration_ms: 5 },
    { queue_id: 'q2', result: 'FAIL', try: 1, duration_ms: 5 },
    { queue_id: 'q1', result: 'PASS', try: 1, duration_ms: 5 },
  ]);
  assert.deepEqual(dots.map((d) => d.tone), ['ok', 'bad', 'flaky']);
  assert.match(dots[2].title, /q3: PASS \(try 2\)/);
});

test('the duration trend puts the slowest run at the top, oldest on the left', () => {
  const points = trendPoints([{ duration_ms: 50 }, { duration_ms: 100 }], 100, 20);
  assert.equal(points, '0.0,1.0 100.0,10.0');
  assert.equal(trendPoints([{ duration_ms: 5 }], 100, 20), '');
});

test('a FLAKY run is one amber dot, whatever try it passed on', () => {
  const dots = stripDots([{ queue_id: 'q2', result: 'FLAKY', try: 3, duration_ms: 5 }, run('q1', 'ERROR', 'c1')]);
  assert.deepEqual(dots.map((d) => d.tone), ['bad', 'flaky']);
  assert.match(dots[1].title, /q2: FLAKY \(try 3\)/);
});

// --- firmware size chart -----------------------------------------------------

import {
  chartGeometry, latestChange, niceCeiling, polylinePoints,
} from '../../services/gateway/assets/size_chart.js';
import { formatBytes } from '../../services/gateway/assets/format.js';

const size = (commit, text, data, bss) => ({ commit, queue_id: `q-${commit}`, profile: 'fw', measured_at: '', text, data, bss });

test('the size chart puts the oldest commit left and scales to a round top', () => {
  // The API answers newest first.
  const g = chartGeometry([size('c3', 1500, 8, 40), size('c2', 1200, 8, 40), size('c1', 1000, 4, 20)],
    { width: 240, height: 140, pad: 20 });
  assert.equal(g.top, 2000);
  assert.deepEqual(g.labels.map((l) => l.text), ['c1', 'c2', 'c3']);
  const text = g.series.find((s) => s.name === 'text').points;
  assert.deepEqual(text.map((p) => p.x), [20, 120, 220]);
  assert.deepEqual(text.map((p) => p.y), [70, 60, 45], 'higher values are higher up');
  assert.equal(polylinePoints(text), '20,70 120,60 220,45');
  assert.equal(g.baseline, 120);
});

test('one commit sits in the middle; an empty history still has an axis', () => {
  const g = chartGeometry([size('c1', 10, 0, 0)], { width: 100, height: 100, pad: 10 });
  assert.equal(g.series[0].points[0].x, 50);
  assert.equal(chartGeometry([]).top, 1);
  assert.equal(niceCeiling(3), 5);
  assert.equal(niceCeiling(5000), 5000);
  assert.equal(niceCeiling(5001), 10000);
});

test('the newest change and byte counts read as people say them', () => {
  const sizes = [size('c2', 1500, 8, 40), size('c1', 1000, 8, 44)];
  assert.equal(latestChange(sizes, 'text'), '+500 B');
  assert.equal(latestChange(sizes, 'data'), '±0 B');
  assert.equal(latestChange(sizes, 'bss'), '−4 B');
  assert.equal(latestChange(sizes.slice(0, 1), 'text'), null);
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(3 << 20), '3.0 MiB');
});

test('a worker\'s state changes and running queues read in words', () => {
  assert.equal(changeText({ kind: 'drained', by: 'ops', profile: null, detail: null }), 'drained by ops');
  assert.equal(changeText({ kind: 'quarantined', by: 'rack1', profile: 'qemu-arm', detail: '3 boots failed' }),
    'quarantined qemu-arm by rack1');
  assert.equal(changeText({ kind: 'readmitted', by: 'ops', profile: 'sh', detail: null }), 'readmitted sh by ops');
  assert.equal(changeText({ kind: 'offline', by: 'registry', profile: null, detail: 'silent' }), 'offline (silent) by registry');
  assert.equal(runningLabel({ id: 'q1', shard: null }), 'q1');
  assert.equal(runningLabel({ id: 'q1', shard: 2 }), 'q1 · shard 2');
});
