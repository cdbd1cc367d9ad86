"""Exit and fork: child interpreters that log and end without closing
anything, and processes that fork after logging."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter

from tests.agentproc import Agent, payloads


def run_child(code: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def test_exit_without_close_delivers_everything(agent: Agent) -> None:
    # The example, word for word but for the address: nothing is
    # closed or flushed; the interpreter's exit drains the queue.
    run_child(f"""
        import logging, logflux
        logging.basicConfig(level=logging.INFO,
                            handlers=[logflux.Handler(source="billing", address={agent.addr!r})])
        log = logging.getLogger("billing")
        for i in range(10_000):
            log.info("charged %s", i, extra={{"order_id": str(i)}})
    """)
    stored = agent.stored()  # the exit waited for the agent's flush answer
    assert len(stored) == 10_000, f"{len(stored)} of 10000 delivered"
    assert sorted(payloads(stored)) == sorted(f"charged {i}" for i in range(10_000))
    e = stored[0]
    assert e["source"] == "billing" and e["logLevel"] == 7
    assert e["metadata"]["logger"] == "billing" and e["metadata"]["order_id"] == "0"


def test_exit_of_a_bare_client_delivers_everything(agent: Agent) -> None:
    run_child(f"""
        import logflux
        c = logflux.Client(address={agent.addr!r}, source="bare")
        for i in range(10_000):
            c.log(f"bare {{i}}")
    """)
    assert len(agent.stored()) == 10_000


def test_exit_with_the_agent_down_is_bounded_and_quiet(tmp_path) -> None:
    out = run_child(f"""
        import atexit
        # Registered before logflux is imported, so it runs after its drain.
        atexit.register(lambda: print("stats", h.client.stats().dropped, h.client.stats().last_error is not None))
        import logging, logflux
        h = logflux.Handler(address="unix://{tmp_path}/absent.sock", exit_timeout=30)
        logging.getLogger().addHandler(h)
        logging.getLogger().warning("nobody listens")
    """, timeout=30)
    # One failed attempt, not 30 s of retries; the entry is counted, and the
    # only output is the SDK's one-line diagnostic on stderr.
    assert "Traceback" not in out.stderr
    assert "stats {'unsent': 1} True" in out.stdout


def test_fork_child_sends_its_own_and_parent_queue_once(agent: Agent) -> None:
    run_child(f"""
        import logging, os, sys, logflux
        # A long flush interval: the parent's entries are still queued at the fork.
        h = logflux.Handler(address={agent.addr!r}, source="forking", flush_interval=30)
        log = logging.getLogger("app")
        log.addHandler(h)
        log.setLevel(logging.INFO)
        for i in range(50):
            log.info("parent before %d", i)
        assert h.client.stats().queued == 50
        pids = []
        for n in range(3):
            pid = os.fork()
            if pid == 0:
                assert h.client.stats().queued == 0  # the parent's queue stays the parent's
                for i in range(20):
                    log.info("child %d entry %d", n, i)
                sys.exit(0)  # atexit drains the child's client
            pids.append(pid)
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        for i in range(50):
            log.info("parent after %d", i)
    """)
    counts = Counter(payloads(agent.stored()))
    want = [f"parent before {i}" for i in range(50)] + [f"parent after {i}" for i in range(50)]
    want += [f"child {n} entry {i}" for n in range(3) for i in range(20)]
    assert sorted(counts) == sorted(want)
    assert set(counts.values()) == {1}, [p for p, k in counts.items() if k > 1][:5]


def test_a_thread_inside_emit_at_fork_does_not_silence_the_child(agent: Agent) -> None:
    # Another thread is inside the handler's emit when the process forks:
    # the child must not inherit it as "inside emit" (a thread of the child
    # may get the same ident, and its records would be skipped).
    run_child(f"""
        import logging, os, sys, threading, logflux
        from logflux import _handler
        h = logflux.Handler(address={agent.addr!r}, source="forkbusy")
        log = logging.getLogger("app")
        log.addHandler(h)
        log.setLevel(logging.INFO)
        inside, release = threading.Event(), threading.Event()

        class Slow:
            def __str__(self):
                inside.set()
                release.wait(30)
                return "slow"

        t = threading.Thread(target=lambda: log.info("thread %s", Slow()))
        t.start()
        assert inside.wait(30)
        assert _handler._busy
        pid = os.fork()
        if pid == 0:
            assert not _handler._busy
            t2 = threading.Thread(target=lambda: log.info("child thread"))
            t2.start()
            t2.join()
            log.info("child main")
            sys.exit(0)
        release.set()
        t.join()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    """)
    assert sorted(payloads(agent.stored())) == ["child main", "child thread", "thread slow"]


def test_multiprocessing_fork_children_drain(agent: Agent) -> None:
    # multiprocessing's fork children end with os._exit, skipping atexit.
    run_child(f"""
        import logging, multiprocessing, logflux
        h = logflux.Handler(address={agent.addr!r}, source="mp")
        logging.getLogger().addHandler(h)
        logging.getLogger().setLevel(logging.INFO)

        def work(n):
            for i in range(100):
                logging.info("worker %d entry %d", n, i)

        if __name__ == "__main__":
            ctx = multiprocessing.get_context("fork")
            ps = [ctx.Process(target=work, args=(n,)) for n in range(2)]
            for p in ps: p.start()
            for p in ps: p.join()
            assert all(p.exitcode == 0 for p in ps)
    """)
    got = sorted(payloads(agent.stored()))
    assert got == sorted(f"worker {n} entry {i}" for n in range(2) for i in range(100))
