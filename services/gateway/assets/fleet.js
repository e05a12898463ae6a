// Pure decisions of the Workers page, tested without a browser
// (tests/browser/dashboard_logic.test.mjs): how a worker's profiles read
// and how full it is, or that it is offline; how a state change and a
// running queue read.

/** Each profile with its state: `{name, state, reason, isDefault}`, ready ones first. */
export function profileStates(worker) {
  const rank = { ready: 0, draining: 1, quarantined: 2 };
  return worker.profiles
    .map((name) => ({
      name,
      state: worker.state?.[name]?.state ?? 'ready',
      reason: worker.state?.[name]?.reason ?? null,
      isDefault: worker.default_profile === name,
    }))
    .sort((a, b) => (rank[a.state] ?? 3) - (rank[b.state] ?? 3) || a.name.localeCompare(b.name));
}

/** `"1 of 2 slots busy"`, and a tone for the badge. */
export function load(worker) {
  const tone = worker.busy === 0 ? 'idle' : worker.busy >= worker.slots ? 'full' : 'busy';
  return { text: `${worker.busy} of ${worker.slots} slot${worker.slots === 1 ? '' : 's'} busy`, tone };
}

/**
 * `null` for a live worker. For an offline one (`presence: "offline"`), how
 * it went and since when: `left` when it stopped cleanly (a restart, an
 * upgrade: `left` is its time), `silent` when it stopped heartbeating
 * (killed, cut off: since its `last_seen`). A page of an older gateway has
 * no `presence`: it listed only live workers.
 */
export function offline(worker) {
  if ((worker.presence ?? 'live') === 'live') return null;
  return worker.left ? { how: 'left', since: worker.left } : { how: 'silent', since: worker.last_seen };
}

/** Whether the worker takes nothing at all now (every profile drained or quarantined). */
export function takesNothing(worker) {
  return profileStates(worker).every((p) => p.state !== 'ready');
}

/**
 * A state change (`GET /api/workers`'s `changes[]`) in words, without its
 * time: `"drained by ops"`, `"quarantined qemu-arm by rack1"`,
 * `"readmitted sh by ops"`, `"offline (left) by rack1"`.
 */
export function changeText(change) {
  const what = change.kind === 'offline'
    ? `offline (${change.detail ?? 'silent'})`
    : [change.kind, change.profile].filter(Boolean).join(' ');
  return `${what} by ${change.by}`;
}

/** A running queue's label: its id, and `· shard N` for a shard of a sharded queue. */
export function runningLabel(queue) {
  return queue.shard == null ? queue.id : `${queue.id} · shard ${queue.shard}`;
}
