#!/usr/bin/env python3
"""Run a UART console scenario against a device under test (DUT).

Usage:
    python3 scenario_execution.py SCENARIO_FILE

The DUT's serial console is reached over TCP (QEMU's
``-serial tcp:127.0.0.1:PORT,server,nowait``). Environment:

    DUT_PORT              TCP port of the serial console (required; falls
                          back to TESTARENA_PORT)
    DUT_HOST              host to connect to (default 127.0.0.1)
    TESTARENA_RESULT_DIR  if set, a JUnit report is written to
                          $TESTARENA_RESULT_DIR/junit.xml
    DUT_CONNECT_TIMEOUT   seconds to keep retrying the connection (default 10)
    DUT_SYNC_TIMEOUT      seconds to wait for the console to answer (default 10)

Scenario format (one directive per line):

    # comment                  whole-line comment; blank lines are ignored
    timeout SECONDS            timeout of the following `expect`s: before the
                               first `case` it sets the file default (5 s if
                               never set), inside a case it applies to the
                               rest of that case only
    case NAME                  start a test case (one JUnit <testcase>)
    send TEXT                  send TEXT followed by a newline
    expect REGEX               wait until a received line matches REGEX
                               (Python `re.search`); lines before the
                               matching one are consumed
    sleep SECONDS              pause
    skip REASON                mark the case skipped; its later steps are
                               not run

Received output is split into lines; the trailing CR and any leading console
prompts ("> ") are removed before matching, so `expect ^pong$` matches the
firmware's "pong" response exactly. Lines received before a case starts are
discarded, so a failed case cannot satisfy the expectations of the next one.
A failed `expect` (timeout) fails its case and skips the rest of that case;
the following cases still run.

Exit status: 0 if every case passed (or was skipped), 1 if any case failed,
2 on a usage, scenario syntax or connection error.
"""

import os
import re
import socket
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

DEFAULT_EXPECT_TIMEOUT = 5.0
PROMPT = "> "

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2


def log(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------------------
# Scenario parsing


class ScenarioError(Exception):
    """Syntax error in a scenario file."""


@dataclass
class Step:
    line: int
    kind: str  # send | expect | sleep | skip | timeout
    arg: str
    regex: "re.Pattern | None" = None
    seconds: float = 0.0


@dataclass
class Case:
    name: str
    line: int
    steps: list = field(default_factory=list)


def parse_seconds(value, where):
    try:
        seconds = float(value)
    except ValueError:
        raise ScenarioError(f"{where}: expected a number of seconds, got {value!r}")
    if seconds < 0:
        raise ScenarioError(f"{where}: seconds must not be negative")
    return seconds


def parse_scenario(path):
    """Returns (default_timeout, [Case])."""
    default_timeout = DEFAULT_EXPECT_TIMEOUT
    cases = []
    names = set()
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            keyword, _, arg = text.partition(" ")
            arg = arg.strip()
            where = f"{path}:{lineno}"

            if keyword == "case":
                if not arg:
                    raise ScenarioError(f"{where}: case needs a name")
                if arg in names:
                    raise ScenarioError(f"{where}: duplicate case name {arg!r}")
                names.add(arg)
                cases.append(Case(arg, lineno))
                continue
            if keyword == "timeout" and not cases:
                default_timeout = parse_seconds(arg, where)
                continue
            if keyword not in ("send", "expect", "sleep", "skip", "timeout"):
                raise ScenarioError(f"{where}: unknown directive {keyword!r}")
            if not cases:
                raise ScenarioError(f"{where}: {keyword!r} outside of a case")

            step = Step(lineno, keyword, arg)
            if keyword == "expect":
                if not arg:
                    raise ScenarioError(f"{where}: expect needs a regex")
                try:
                    step.regex = re.compile(arg)
                except re.error as e:
                    raise ScenarioError(f"{where}: invalid regex {arg!r}: {e}")
            elif keyword in ("sleep", "timeout"):
                step.seconds = parse_seconds(arg, where)
            cases[-1].steps.append(step)

    if not cases:
        raise ScenarioError(f"{path}: no test cases (add a 'case NAME' line)")
    return default_timeout, cases


# ---------------------------------------------------------------------------
# Console connection


class ConnectionLost(Exception):
    pass


class Console:
    """Line-oriented view of the DUT's serial console over TCP."""

    def __init__(self, sock):
        self.sock = sock
        self.partial = ""
        self.lines = []  # complete lines not yet consumed

    @classmethod
    def connect(cls, host, port, timeout):
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                sock = socket.create_connection((host, port), timeout=2)
                log(f"[connect] connected to {host}:{port} (attempt {attempt})")
                return cls(sock)
            except OSError as e:
                if time.monotonic() >= deadline:
                    raise ConnectionLost(
                        f"cannot connect to {host}:{port} after {attempt} attempts: {e}"
                    )
                time.sleep(0.2)

    def close(self):
        self.sock.close()

    def send(self, text):
        try:
            self.sock.sendall((text + "\n").encode("utf-8"))
        except OSError as e:
            raise ConnectionLost(f"send failed: {e}")

    @staticmethod
    def _clean(line):
        line = line.rstrip("\r")
        while line.startswith(PROMPT):
            line = line[len(PROMPT):]
        return line

    def _receive(self, timeout):
        """Reads whatever arrives within `timeout` seconds into self.lines."""
        # A timeout of 0 makes the socket non-blocking: just poll.
        self.sock.settimeout(timeout if timeout > 0 else 0.0)
        try:
            data = self.sock.recv(4096)
        except (socket.timeout, BlockingIOError):
            return
        except OSError as e:
            raise ConnectionLost(f"receive failed: {e}")
        if not data:
            raise ConnectionLost("connection closed by the DUT")
        self.partial += data.decode("utf-8", errors="replace")
        *complete, self.partial = self.partial.split("\n")
        self.lines.extend(self._clean(line) for line in complete)

    def discard_pending(self):
        """Drops lines that arrived before now (does not wait)."""
        self._receive(0)
        dropped, self.lines = self.lines, []
        return dropped

    def pending_partial(self):
        return self._clean(self.partial)

    def wait_for(self, regex, timeout, on_line):
        """Consumes lines until one matches `regex`.

        Returns the matching line, or None when `timeout` expires. Every
        consumed line is passed to `on_line`.
        """
        deadline = time.monotonic() + timeout
        while True:
            while self.lines:
                line = self.lines.pop(0)
                on_line(line)
                if regex.search(line):
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._receive(remaining)


def sync(console, timeout):
    """Makes sure the console answers before running any case.

    QEMU drops UART output while no client is connected, so the boot banner
    is usually lost and cannot be used to detect readiness. Instead an `echo`
    of a unique token is sent until it comes back. The leading newline
    terminates any partial line a previous client may have left behind. The
    token is unique so that late answers to retries cannot be mistaken for
    responses to the scenario's own commands.
    """
    token = f"sync-{uuid.uuid4().hex[:12]}"
    pattern = re.compile("^" + re.escape(token) + "$")
    deadline = time.monotonic() + timeout
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        log(f"[sync] attempt {attempt}: send 'echo {token}'")
        console.send("")
        console.send(f"echo {token}")
        wait = min(1.0, max(deadline - time.monotonic(), 0.0))
        if console.wait_for(pattern, wait, lambda line: log(f"  << {line}")):
            log("[sync] console is responding")
            return
    raise ConnectionLost(f"console did not answer within {timeout:g}s")


# ---------------------------------------------------------------------------
# Execution


@dataclass
class Result:
    case: Case
    status: str = "passed"  # passed | failed | error | skipped
    message: str = ""
    duration: float = 0.0
    output: list = field(default_factory=list)


def run_case(console, case, default_timeout):
    result = Result(case)

    def note(msg):
        log(msg)
        result.output.append(msg)

    def on_line(line):
        note(f"  << {line}")

    start = time.monotonic()
    log(f"=== case {case.name} (line {case.line})")
    for line in console.discard_pending():
        note(f"  (discarded stale line) << {line}")

    timeout = default_timeout
    try:
        for step in case.steps:
            if step.kind == "send":
                note(f"  >> send {step.arg!r}")
                console.send(step.arg)
            elif step.kind == "expect":
                note(f"  .. expect /{step.arg}/ (timeout {timeout:g}s)")
                matched = console.wait_for(step.regex, timeout, on_line)
                if matched is None:
                    partial = console.pending_partial()
                    if partial:
                        note(f"  (incomplete line) << {partial}")
                    result.status = "failed"
                    result.message = (
                        f"line {step.line}: timed out after {timeout:g}s "
                        f"waiting for a line matching /{step.arg}/"
                    )
                    break
                note(f"  ok matched {matched!r}")
            elif step.kind == "timeout":
                timeout = step.seconds
                note(f"  .. expect timeout set to {timeout:g}s")
            elif step.kind == "sleep":
                note(f"  .. sleep {step.seconds:g}s")
                time.sleep(step.seconds)
            elif step.kind == "skip":
                result.status = "skipped"
                result.message = step.arg or "skipped"
                note(f"  .. skip: {result.message}")
                break
    except ConnectionLost as e:
        result.status = "error"
        result.message = f"connection lost: {e}"
    result.duration = time.monotonic() - start

    label = result.status.upper()
    detail = f": {result.message}" if result.message else ""
    log(f"=== {label} {case.name} ({result.duration:.2f}s){detail}")
    return result


# ---------------------------------------------------------------------------
# JUnit report

# Characters that XML 1.0 does not allow even when escaped; a misbehaving
# UART can produce them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text):
    return _INVALID_XML.sub("?", text)


def write_junit(path, suite_name, scenario_path, results, duration):
    counts = {
        "tests": len(results),
        "failures": sum(r.status == "failed" for r in results),
        "errors": sum(r.status == "error" for r in results),
        "skipped": sum(r.status == "skipped" for r in results),
    }
    attrs = {k: str(v) for k, v in counts.items()}
    attrs["time"] = f"{duration:.3f}"

    root = ET.Element("testsuites", name=suite_name, **attrs)
    suite = ET.SubElement(
        root,
        "testsuite",
        name=suite_name,
        timestamp=time.strftime("%Y-%m-%dT%H:%M:%S"),
        **attrs,
    )
    for r in results:
        tc = ET.SubElement(
            suite,
            "testcase",
            classname=suite_name,
            name=r.case.name,
            file=scenario_path,
            line=str(r.case.line),
            time=f"{r.duration:.3f}",
        )
        if r.status == "failed":
            ET.SubElement(tc, "failure", message=xml_text(r.message), type="ExpectTimeout").text = xml_text(r.message)
        elif r.status == "error":
            ET.SubElement(tc, "error", message=xml_text(r.message), type="ConnectionError").text = xml_text(r.message)
        elif r.status == "skipped":
            ET.SubElement(tc, "skipped", message=xml_text(r.message))
        if r.output:
            ET.SubElement(tc, "system-out").text = xml_text("\n".join(r.output) + "\n")

    if hasattr(ET, "indent"):  # Python >= 3.9; the report is valid without it
        ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    log(f"[junit] wrote {path}")


# ---------------------------------------------------------------------------


def env_seconds(name, default):
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        log(f"error: {name}={value!r} is not a number")
        sys.exit(EXIT_ERROR)


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        log(__doc__)
        return EXIT_ERROR
    scenario_path = argv[1]

    port_text = os.environ.get("DUT_PORT") or os.environ.get("TESTARENA_PORT")
    if not port_text:
        log("error: set DUT_PORT (or TESTARENA_PORT) to the DUT's serial TCP port")
        return EXIT_ERROR
    try:
        port = int(port_text)
    except ValueError:
        log(f"error: invalid port {port_text!r}")
        return EXIT_ERROR
    host = os.environ.get("DUT_HOST", "127.0.0.1")
    connect_timeout = env_seconds("DUT_CONNECT_TIMEOUT", 10.0)
    sync_timeout = env_seconds("DUT_SYNC_TIMEOUT", 10.0)
    result_dir = os.environ.get("TESTARENA_RESULT_DIR")

    try:
        default_timeout, cases = parse_scenario(scenario_path)
    except (OSError, ScenarioError) as e:
        log(f"error: {e}")
        return EXIT_ERROR

    suite_name = os.path.splitext(os.path.basename(scenario_path))[0]
    log(f"[scenario] {scenario_path}: {len(cases)} case(s), "
        f"default expect timeout {default_timeout:g}s")

    start = time.monotonic()
    results = []
    connection_error = None
    console = None
    try:
        console = Console.connect(host, port, connect_timeout)
        sync(console, sync_timeout)
    except ConnectionLost as e:
        connection_error = str(e)
        log(f"error: {e}")

    for case in cases:
        if connection_error is None:
            result = run_case(console, case, default_timeout)
            if result.status == "error":
                connection_error = result.message
        else:
            # Still report every case so the report shows what did not run.
            result = Result(case, status="error", message=connection_error)
            log(f"=== ERROR {case.name}: {connection_error}")
        results.append(result)
    if console is not None:
        console.close()
    duration = time.monotonic() - start

    n = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "error", "skipped")}
    log(f"=== summary: {n['passed']} passed, {n['failed']} failed, "
        f"{n['error']} errors, {n['skipped']} skipped ({duration:.2f}s)")

    if result_dir:
        os.makedirs(result_dir, exist_ok=True)
        write_junit(os.path.join(result_dir, "junit.xml"), suite_name,
                    scenario_path, results, duration)

    if connection_error is not None:
        return EXIT_ERROR
    if n["failed"]:
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv))
