"""The client against the real agent: Unix socket and TCP, a refused
secret, restarts mid-stream, a full queue, the fallback file."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable

import logflux
from tests.agentproc import Agent, payloads
from tests.conftest import SECRET

MakeClient = Callable[..., logflux.Client]


def test_unix_entries_arrive_with_every_field(agent: Agent, make_client: MakeClient) -> None:
    c = make_client(address=agent.addr)
    ts = 1756636200.5  # 2025-08-31T10:30:00.5Z
    assert c.log("full entry", logflux.NOTICE, entry_type=logflux.EntryType.AUDIT, source="auth-service",
                 timestamp=ts, payload_type="application", metadata={"env": "production", "quote": '"x"', "n": 7})
    assert c.log_entry(logflux.metric("queue.depth", 42))
    assert c.log_entry(logflux.event("deployed", {"version": "1.2"}))
    assert c.log("disk almost full", level=logflux.WARNING, metadata={"disk": "/var"})
    for i in range(1000):
        c.log(f"bulk {i}")
    assert c.flush(timeout=10)
    # flush means stored durably; the file output follows at once.
    got = {e["payload"]: e for e in agent.wait_stored(1004)}
    assert len(got) == 1004
    e = got["full entry"]
    assert (e["entryType"], e["source"], e["logLevel"], e["payloadType"]) == (5, "auth-service", 6, "application")
    assert e["timestamp"] == "2025-08-31T10:30:00.5Z"
    assert e["metadata"] == {"env": "production", "quote": '"x"', "n": "7"}
    m = got['{"name":"queue.depth","value":42}']
    assert (m["entryType"], m["payloadType"]) == (2, "generic_json")
    assert got["disk almost full"]["logLevel"] == 5
    assert got["disk almost full"]["source"] == "pytest"
    s = c.stats()
    assert (s.logged, s.sent, s.confirmed, s.queued, s.queued_bytes) == (1004, 1004, 1004, 0, 0)
    assert s.dropped == {} and s.rejected == {} and s.connections == 1


def test_order_is_kept_on_one_connection(agent: Agent, make_client: MakeClient) -> None:
    c = make_client(address=agent.addr)
    for i in range(2500):
        c.log(f"ordered {i}")
    assert c.flush(10)
    assert payloads(agent.wait_stored(2500)) == [f"ordered {i}" for i in range(2500)]


def test_tcp_with_secret(tcp_agent: Agent, make_client: MakeClient) -> None:
    c = make_client(address=tcp_agent.tcp_addr, shared_secret=SECRET)
    c.log("over tcp", metadata={"k": "v"})
    assert c.flush(10)
    assert payloads(tcp_agent.wait_stored(1)) == ["over tcp"]


def test_environment_names_the_agent(tcp_agent: Agent, make_client: MakeClient, monkeypatch) -> None:
    monkeypatch.setenv("LOGFLUX_AGENT_ADDR", tcp_agent.tcp_addr)
    monkeypatch.setenv("LOGFLUX_SHARED_SECRET", SECRET)
    c = make_client()
    c.log("found through the environment")
    assert c.flush(10)
    assert payloads(tcp_agent.wait_stored(1)) == ["found through the environment"]


def test_refused_secret_is_reported_not_raised(tcp_agent: Agent, make_client: MakeClient) -> None:
    errors: list[logflux.LogfluxError] = []
    c = make_client(address=tcp_agent.tcp_addr, shared_secret="not-the-secret-0123456789abcdef!!",
                    on_error=errors.append)
    assert c.log("should not pass")  # queued: the log call knows nothing of the network
    assert c.flush(timeout=5) is False
    s = c.stats()
    assert isinstance(s.last_error, logflux.AuthFailedError)
    assert s.last_error.code == "auth_failed"
    assert s.dial_failures >= 1 and s.confirmed == 0
    assert any(isinstance(e, logflux.AuthFailedError) for e in errors)
    assert tcp_agent.stored() == []
    assert c.close(timeout=1) is False
    assert c.stats().dropped == {"unsent": 1}


def test_agent_restart_mid_stream(agent: Agent, make_client: MakeClient) -> None:
    c = make_client(address=agent.addr)
    stop = threading.Event()
    logged: list[str] = []

    def produce() -> None:
        i = 0
        while not stop.is_set():
            p = f"stream {i}"
            if c.log(p):
                logged.append(p)
            i += 1
            if i % 50 == 0:
                time.sleep(0.005)

    t = threading.Thread(target=produce)
    t.start()
    try:
        agent.wait_stored(200)
        agent.stop()  # SIGTERM: the agent drains what it accepted and exits
        time.sleep(0.3)  # the producer keeps logging while the agent is down
        agent.start()
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()
    assert c.flush(timeout=20), c.stats()
    stored = Counter(payloads(agent.stored()))
    missing = [p for p in logged if p not in stored]
    assert not missing, f"{len(missing)} of {len(logged)} entries lost, e.g. {missing[:3]}"
    s = c.stats()
    assert s.connects >= 2
    assert s.dropped == {}


def test_full_queue_drops_new_entries_and_counts_them(agent_bin: str, make_client: MakeClient) -> None:
    down = Agent(agent_bin)  # not started yet: the agent is down
    try:
        errors: list[logflux.LogfluxError] = []
        c = make_client(address=down.addr, max_queue_bytes=64 << 10, on_error=errors.append)
        queued = sum(1 for i in range(5000) if c.log(f"entry {i:05d} " + "x" * 100))
        s = c.stats()
        assert 0 < queued < 5000
        assert s.dropped == {"queue_full": 5000 - queued}
        assert s.queued == queued and s.queued_bytes <= 64 << 10
        down.start()
        assert c.flush(timeout=10)
        assert payloads(down.wait_stored(queued)) == [f"entry {i:05d} " + "x" * 100 for i in range(queued)]
        deadline = time.monotonic() + 5
        while not any("queue full" in str(e) for e in errors) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert any("queue full" in str(e) for e in errors), errors
    finally:
        down.cleanup()


def test_agent_refusals_are_counted_by_code(agent: Agent, make_client: MakeClient) -> None:
    errors: list[logflux.LogfluxError] = []
    c = make_client(address=agent.addr, on_error=errors.append)
    # Metadata the agent refuses as a whole: keys plus values over 1 MiB.
    big = {f"k{i}": "v" * 1000 for i in range(1100)}
    c.log("ok before")
    c.log("too much metadata", metadata=big)
    c.log("ok after")
    assert c.flush(10)
    s = c.stats()
    assert s.rejected == {"invalid_entry": 1}, s
    assert s.sent == 2
    assert sorted(payloads(agent.wait_stored(2))) == ["ok after", "ok before"]
    assert any(isinstance(e, logflux.AgentError) and e.code == "invalid_entry" for e in errors)


def test_invalid_entries_are_dropped_at_the_call(make_client: MakeClient, tmp_path) -> None:
    c = make_client(address=f"unix://{tmp_path}/none.sock")
    assert c.log("") is False
    assert c.log("x", level=9) is False
    assert c.log("x", entry_type=6) is False
    assert c.log("x", payload_type="has space") is False
    assert c.log("x" * ((1 << 20) + 1)) is False
    assert c.stats().dropped == {"invalid": 5}


def test_fallback_file_replays_with_agent_send(agent_bin: str, make_client: MakeClient, tmp_path) -> None:
    path = tmp_path / "fallback.ndjson"
    c = make_client(address=f"unix://{tmp_path}/absent.sock", fallback_file=path, fallback_after=0.05)
    for i in range(150):
        c.log(f"offline {i}", level=logflux.WARNING, metadata={"i": i})
    assert c.flush(timeout=2) is False  # the agent is not there
    c.close(timeout=1)
    s = c.stats()
    assert s.fallback == 150 and s.dropped == {}
    a = Agent(agent_bin).start()
    try:
        out = subprocess.run([agent_bin, "send", "--addr", a.addr, "--file", str(path)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        got = {e["payload"]: e for e in a.stored()}
        for i in range(150):
            e = got[f"offline {i}"]
            assert (e["logLevel"], e["source"], e["metadata"]) == (5, "pytest", {"i": str(i)})
    finally:
        a.cleanup()


def test_close_is_idempotent_and_logging_after_close_is_counted(agent: Agent) -> None:
    with logflux.Client(address=agent.addr, source="ctx") as c:
        c.log("inside")
    assert c.close() is True and c.close() is True
    assert c.log("after close") is False
    assert c.flush(1) is False
    assert c.stats().dropped == {"closed": 1}
    assert payloads(agent.wait_stored(1)) == ["inside"]


def test_sdk_diagnostics_do_not_go_through_the_handler(agent_bin: str, tmp_path) -> None:
    # With no on_error, diagnostics go to the "logflux" logger, which does
    # not propagate and which the handler skips: no recursion, no entry.
    h = logflux.Handler(address=f"unix://{tmp_path}/absent.sock", source="loop", flush_interval=0.05,
                        min_backoff=0.01, max_backoff=0.05)
    root = logging.getLogger()
    root.addHandler(h)
    logging.getLogger("logflux").addHandler(h)
    try:
        logging.getLogger("app").warning("one entry")
        h.client.flush(0.5)
        logging.getLogger("logflux").warning("about itself")
        assert h.client.stats().logged == 1
    finally:
        root.removeHandler(h)
        logging.getLogger("logflux").removeHandler(h)
        h.client.close(timeout=0.5)
    assert os.path.exists(tmp_path)


def test_a_record_logged_while_the_handler_formats_one_is_not_sent_through_it_again(agent: Agent) -> None:
    # A message argument whose __str__ logs: the handler is inside emit on
    # this thread, so the inner record is skipped; the outer one and the
    # next ones go through, and nothing is raised.
    h = logflux.Handler(address=agent.addr, source="reentry")
    log = logging.getLogger("reentry")
    log.propagate = False
    log.addHandler(h)
    log.setLevel(logging.INFO)

    class Loud:
        def __str__(self) -> str:
            log.info("from inside")
            return "loud"

    try:
        log.info("outer %s", Loud())
        log.info("after")
        assert h.client.flush(10)
        assert h.client.stats().logged == 2
        assert sorted(payloads(agent.wait_stored(2))) == ["after", "outer loud"]
    finally:
        log.removeHandler(h)
        h.close()


def test_entries_logged_by_threads_while_closing_are_each_accounted_for_once(agent: Agent) -> None:
    # Callers append without a lock: an entry that log() accepted is either
    # confirmed by the agent or counted as unsent by close(); one refused
    # is counted as closed. Nothing is lost without a count.
    c = logflux.Client(address=agent.addr, source="race", flush_interval=0.05)
    accepted = [0] * 4
    refused = [0] * 4
    started = threading.Barrier(5)

    def worker(n: int) -> None:
        started.wait()
        for i in range(5000):
            if c.log(f"w{n} {i}"):
                accepted[n] += 1
            else:
                refused[n] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.02)
    c.close(timeout=10)
    for t in threads:
        t.join()
    s = c.stats()
    assert sum(accepted) + sum(refused) == 20_000
    assert sum(accepted) == s.confirmed + s.dropped.get("unsent", 0)
    assert sum(refused) == s.dropped.get("closed", 0)
    assert (s.queued, s.queued_bytes) == (0, 0)
    stored = set(payloads(agent.wait_stored(s.confirmed)))
    assert len(stored) >= s.confirmed
