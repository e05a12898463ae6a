#!/usr/bin/env python3
"""Follow one TestArena queue's log live, straight from NATS JetStream.

    python3 follow_log.py QUEUE_ID [--nats nats://127.0.0.1:4222] [--prefix arena]

Replays the queue's log batches from the start of the log stream, then
prints new lines as the worker publishes them, and exits when the queue's
`finished` event arrives (0 when the queue finished, 1 otherwise). Needs
nats-py (`pip install nats-py`). Subjects and payloads: docs/events.md and
schemas/log_batch.json.
"""

import argparse
import asyncio
import json
import sys

import nats
import nats.js.errors
from nats.js.api import DeliverPolicy


async def follow(queue_id: str, server: str, prefix: str) -> int:
    nc = await nats.connect(server)
    js = nc.jetstream()
    done = asyncio.get_running_loop().create_future()
    received = {"seq": 0}

    async def on_log(msg):
        received["seq"] = msg.metadata.sequence.stream
        batch = json.loads(msg.data)
        for line in batch["lines"]:
            marker = "!" if line["stream"] == "stderr" else ""
            print(f"[{line['source']}{marker}] {line['text']}", flush=True)

    async def on_event(msg):
        event = json.loads(msg.data)
        if event["type"] == "finished" and not done.done():
            done.set_result(event)

    # The events first: a queue that already ended has its `finished` in the
    # history, which this ordered consumer replays.
    await js.subscribe(
        f"{prefix}.events.{queue_id}.finished",
        cb=on_event,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )
    logs = await js.subscribe(
        f"{prefix}.logs.{queue_id}",
        cb=on_log,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )
    finished = await done
    # The worker stores every log batch before `finished`: wait for the last one.
    logs_stream = prefix.upper().replace(".", "_").replace("-", "_") + "_LOGS"
    try:
        last = await js.get_last_msg(logs_stream, f"{prefix}.logs.{queue_id}")
        while received["seq"] < last.seq:
            await asyncio.sleep(0.02)
    except nats.js.errors.NotFoundError:
        pass  # the queue printed nothing
    await logs.unsubscribe()
    await nc.drain()
    print(f"== {queue_id}: {finished['status']} {finished.get('reason') or ''}".rstrip(), flush=True)
    return 0 if finished["status"] == "Finished" else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queue_id")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--prefix", default="arena")
    args = parser.parse_args()
    return asyncio.run(follow(args.queue_id, args.nats, args.prefix))


if __name__ == "__main__":
    sys.exit(main())
