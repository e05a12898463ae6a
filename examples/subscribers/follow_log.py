#!/usr/bin/env python3
"""Follow one TestArena queue's log live, straight from NATS JetStream.

    python3 follow_log.py QUEUE_ID [--nats URL] [--prefix arena]

The NATS URL is found the way the CLI finds the server: `--nats`, else
`TESTARENA_NATS_URL`, else nats://127.0.0.1:4222 (where `testarena up
--nats-listen 127.0.0.1:4222` puts it; `up` prints its NATS URL when ready).

Replays the queue's log batches from the start of the log stream, then
prints new lines as the worker publishes them, and exits when the queue's
`finished` event arrives: 0 when the queue finished with every task PASS,
1 otherwise (the rule of `testarena submit --wait`), 2 when NATS cannot be
reached. Needs nats-py (`pip install nats-py`). Subjects and payloads:
docs/events.md and schemas/log_batch.json.
"""

import argparse
import asyncio
import json
import os
import sys

import nats
import nats.js.errors
from nats.js.api import DeliverPolicy


DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


async def connect(server: str):
    """One clear line and exit code 2 when the server cannot be reached."""
    async def quiet(_error):
        pass

    try:
        # nats-py retries a refused first connection forever, whatever
        # max_reconnect_attempts says: bound it here.
        return await asyncio.wait_for(
            nats.connect(server, connect_timeout=2, error_cb=quiet), timeout=3
        )
    except Exception as error:  # nats-py raises several kinds here
        why = "no answer within 3 s" if isinstance(error, asyncio.TimeoutError) else error
        print(
            f"follow_log: cannot connect to NATS at {server} ({why}); "
            "pass --nats URL or set TESTARENA_NATS_URL (testarena up prints it)",
            file=sys.stderr,
        )
        raise SystemExit(2)


async def follow(queue_id: str, server: str, prefix: str) -> int:
    nc = await connect(server)
    js = nc.jetstream()
    done = asyncio.get_running_loop().create_future()
    received = {"seq": 0}
    # Task results of the newest attempt: a redelivered queue starts over.
    results = {"attempt": 0, "tasks": {}}

    async def on_log(msg):
        received["seq"] = msg.metadata.sequence.stream
        batch = json.loads(msg.data)
        for line in batch["lines"]:
            marker = "!" if line["stream"] == "stderr" else ""
            print(f"[{line['source']}{marker}] {line['text']}", flush=True)

    async def on_event(msg):
        event = json.loads(msg.data)
        kind = event["type"]
        if kind == "started" and event["attempt"] > results["attempt"]:
            results["attempt"] = event["attempt"]
            results["tasks"] = {}
        elif kind == "task_finished" and event["attempt"] == results["attempt"]:
            results["tasks"][event["task_id"]] = event["result"]
        elif kind == "finished" and not done.done():
            done.set_result(event)

    # The events first: a queue that already ended has its `finished` in the
    # history, which this ordered consumer replays.
    await js.subscribe(
        f"{prefix}.events.{queue_id}.*",
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
    tasks = results["tasks"]
    passed = sum(1 for r in tasks.values() if r == "PASS")
    summary = f"{passed} of {len(tasks)} tasks passed" if tasks else "no task ran"
    reason = finished.get("reason") or ""
    print(f"== {queue_id}: {finished['status']}, {summary} {reason}".rstrip(), flush=True)
    ok = finished["status"] == "Finished" and tasks and passed == len(tasks)
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queue_id")
    parser.add_argument(
        "--nats",
        default=os.environ.get("TESTARENA_NATS_URL") or DEFAULT_NATS_URL,
        help="NATS URL (default: $TESTARENA_NATS_URL, else %s)" % DEFAULT_NATS_URL,
    )
    parser.add_argument("--prefix", default="arena")
    args = parser.parse_args()
    return asyncio.run(follow(args.queue_id, args.nats, args.prefix))


if __name__ == "__main__":
    sys.exit(main())
