"""The language-neutral conformance vectors, through the SDK's own wire
code (address parsing, connecting, authenticating, line reading, answer
parsing, entry checks and encoding) against the real agent."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

import logflux
from logflux._entry import check
from logflux._wire import Connection, parse_address, parse_answer
from tests import vectors
from tests.agentproc import Agent
from tests.conftest import SECRET

CASES = vectors.load()

# Cases whose agent setup the tests do not arrange, and why.
NOT_SET_UP = {"queue-full-reject": "needs an output that accepts nothing; the file output cannot be stalled"}


@pytest.fixture(scope="module")
def vector_agent(agent_bin: str) -> Iterator[Agent]:
    # tcp.auth_timeout 300ms for the tcp-auth-timeout case; nothing else
    # differs from the defaults.
    a = Agent(agent_bin, secret=SECRET, config="tcp:\n  auth_timeout: 300ms\n").start()
    yield a
    a.cleanup()


def _marker_sync(agent: Agent, offset: int, marker: str) -> list[dict[str, Any]]:
    """Sends a marker entry on a fresh connection, waits for it in the
    output, and returns what the output got after byte offset before it."""
    conn = Connection.open(parse_address(agent.addr), 5)
    try:
        conn.send(json.dumps({"payload": marker, "entryType": 1, "source": "marker", "logLevel": 7}).encode()
                  + b"\n" + b'{"action":"flush"}\n', 5)
        assert parse_answer(conn.read_line(10)).action == "flush"
    finally:
        conn.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        new = agent.stored_from(offset)
        ps = [e["payload"] for e in new]
        if marker in ps:
            return new[: ps.index(marker)]
        time.sleep(0.005)
    raise AssertionError(f"marker {marker} never stored")


def _params() -> list[Any]:
    out = []
    for c in CASES:
        transports = ["unix", "tcp"] if c["transport"] == "any" else [c["transport"]]
        for t in transports:
            out.append(pytest.param(c, t, id=f"{c['name']}-{t}"))
    return out


@pytest.mark.parametrize(("case", "transport"), _params())
def test_vector_against_the_real_agent(vector_agent: Agent, case: dict[str, Any], transport: str) -> None:
    if case["name"] in NOT_SET_UP:
        pytest.skip(NOT_SET_UP[case["name"]])
    agent = vector_agent
    offset = agent.size()
    addr = agent.addr if transport == "unix" else agent.tcp_addr
    conn = Connection.open(parse_address(addr), 10)
    try:
        if transport == "tcp" and case["transport"] == "any":
            conn.authenticate(SECRET, 10)  # the SDK's authentication, answer consumed
        for i, step in enumerate(case["steps"]):
            if "send" in step or "send_raw" in step:
                try:
                    conn.send(vectors.step_bytes(step, SECRET), 30)
                except OSError:
                    pass  # the agent may close first; the next expect says whether it should have
            elif "wait_ms" in step:
                time.sleep(step["wait_ms"] / 1000)
            elif "expect" in step:
                line = conn.read_line(30)
                ans = parse_answer(line)
                assert ans.raw is not None or ans.status == "pong"
                got = ans.raw if ans.raw is not None else {"status": "pong"}
                d = vectors.mismatch(step["expect"], got, True, None, "answer")
                assert not d, f"step {i}: {d} ({line[:300]!r})"
            elif step.get("expect_closed"):
                with pytest.raises((ConnectionError, OSError)):
                    conn.read_line(30)
    finally:
        conn.close()
    out = _marker_sync(agent, offset, f"marker {case['name']} {transport}")
    assert len(out) == len(case.get("output", [])), [e["payload"][:50] for e in out]
    for i, (want, got) in enumerate(zip(case.get("output", []), out)):
        d = vectors.mismatch(want, got, True, got, f"output[{i}]")
        assert not d, d


def _accepted() -> list[Any]:
    return [pytest.param(o, id=f"{c['name']}-{i}") for c in CASES for i, o in enumerate(c.get("output", []))]


def _entry_from_output(out: dict[str, Any]) -> logflux.Entry:
    payload = out["payload"]
    if payload.startswith("$len:"):
        payload = "a" * int(payload[5:])
    ts = out.get("timestamp", "")
    stamp = None if ts.startswith("$") else dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    md = out.get("metadata")
    return logflux.Entry(payload, out["logLevel"], out["entryType"], out["source"], stamp,
                         out.get("payloadType"), md if isinstance(md, dict) else None)


def test_sdk_sends_every_accepted_vector_entry_as_stored(agent: Agent, make_client: Any) -> None:
    """Every entry the vectors show the agent accepting, the SDK can
    express; sent through the client, the agent stores it as the vector
    says."""
    outs = [p.values[0] for p in _accepted()]
    c = make_client(address=agent.addr, max_queue_bytes=64 << 20)
    for o in outs:
        assert c.log_entry(_entry_from_output(o)), o["payload"][:80]
    assert c.flush(30)
    stored = agent.wait_stored(len(outs))
    assert len(stored) == len(outs)
    for want, got in zip(outs, stored):
        want = dict(want)
        if want.get("timestamp") == "$receivedAt":
            want["timestamp"] = "$rfc3339utc"  # the SDK stamps the time of the log call
        d = vectors.mismatch(want, got, True, got, "stored")
        assert not d, d


def _refusals() -> list[Any]:
    out = []
    for c in CASES:
        steps = c["steps"]
        if len(steps) < 2 or "send" not in steps[0] or steps[1].get("expect", {}).get("code") != "invalid_entry":
            continue
        errs = steps[1]["expect"].get("errors", [])
        if len(errs) != 1:
            continue
        out.append(pytest.param(c, errs[0]["field"].split(".")[0], id=c["name"]))
    return out


@pytest.mark.parametrize(("case", "field"), _refusals())
def test_sdk_refuses_what_the_agent_refuses(case: dict[str, Any], field: str) -> None:
    raw = json.loads(vectors.step_bytes(case["steps"][0], ""))
    if field == "metadata":
        # The SDK cuts values to the limit instead; what it sends is valid.
        md = raw.get("metadata")
        if isinstance(md, dict):
            sent = logflux._entry.meta_dict(md) or {}
            assert all(len(v) <= 1024 for v in sent.values())
        return
    if field == "timestamp":
        pytest.skip("the SDK takes datetimes and floats, never timestamp text")
    fields = {"payload": raw.get("payload"), "level": raw.get("logLevel"), "entry_type": raw.get("entryType"),
              "source": raw.get("source"), "payload_type": raw.get("payloadType")}
    # The SDK fills a missing type, level, source and payload type itself.
    defaults = {"entryType": "entry_type", "logLevel": "level", "source": "source", "payloadType": "payload_type"}
    if field in defaults and fields[defaults[field]] is None:
        pytest.skip("the SDK supplies this field")
    fields["level"] = fields["level"] if fields["level"] is not None else 7
    fields["entry_type"] = fields["entry_type"] if fields["entry_type"] is not None else 1
    fields["source"] = fields["source"] if fields["source"] is not None else "svc"
    assert check(fields["payload"], fields["level"], fields["entry_type"], fields["source"],
                 fields["payload_type"]) is not None, f"the agent refuses {field}, the SDK accepts it"
