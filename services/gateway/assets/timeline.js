// The queue's events (`GET /api/queue/{id}/events`) as a readable timeline:
// one sentence per event, with its time. Pure; queue_page.js draws it.

import { formatDuration, plural } from './format.js';

const STAGE_WORDS = {
  ok: 'ok', failed: 'failed', skipped: 'skipped', cancelled: 'cancelled',
  cached: 'restored from the build cache',
  shared: 'shared with the shard that built',
};

/** One event as the events API returns it (`{v, queue_id, at, type, …}`) → {at, kind, text, tone}. */
export function describeEvent(event) {
  const body = event;
  const kind = event.type ?? 'event';
  const at = event.at ?? null;
  const ms = (n) => (Number.isFinite(n) ? ` in ${formatDuration(n)}` : '');
  const because = (r) => (r ? ` — ${r}` : '');
  let text;
  let tone = 'info';
  switch (kind) {
    case 'submitted':
      text = `submitted: ${body.source?.repo ?? '?'} @ ${body.source?.ref ?? '?'}, ${plural(body.tasks?.length ?? 0, 'task')}`;
      break;
    case 'started': text = `started on ${body.worker ?? 'a worker'} (attempt ${body.attempt ?? 1})`; break;
    case 'stage_started': text = `${body.stage} started`; break;
    case 'stage_finished':
      text = `${body.stage} ${STAGE_WORDS[body.outcome] ?? body.outcome}${ms(body.duration_ms)}${because(body.message)}`;
      tone = body.outcome === 'failed' ? 'bad' : ['ok', 'cached', 'shared'].includes(body.outcome) ? 'ok' : 'idle';
      break;
    case 'task_started': text = `task ${body.task_id} started`; break;
    case 'task_finished':
      text = `task ${body.task_id} ${body.result}${ms(body.duration_ms)}${body.exit_code !== undefined && body.exit_code !== null ? ` (exit ${body.exit_code})` : ''}${because(body.message)}`;
      tone = body.result === 'PASS' ? 'ok' : 'bad';
      break;
    case 'finished':
      text = `finished: ${body.status}${because(body.reason)}`;
      tone = body.status === 'Finished' ? 'ok' : body.status === 'Cancelled' ? 'warn' : 'bad';
      break;
    case 'cancel_requested': text = `cancel requested${because(body.reason)}`; tone = 'warn'; break;
    case 'deleted': text = 'deleted'; tone = 'warn'; break;
    case 'dispatched': text = `dispatched to ${body.worker ?? 'a worker'}`; break;
    case 'task_claimed': text = `task ${body.task_id} taken`; break;
    case 'build_claimed': text = 'builds for every shard'; break;
    case 'shard_finished': text = 'no task left for this shard'; tone = 'idle'; break;
    default: text = kind;
  }
  // A sharded queue's events say which shard wrote them.
  if (Number.isInteger(event.shard)) text = `shard ${event.shard}: ${text}`;
  return { at, kind, text, tone };
}

