"""Benchmarks of the Python SDK (not run by the tests).

    python bench/bench.py --agent-bin ../../bin/logflux-agent

1. Cost of one ``logger.info("msg %s", x)`` on the calling thread, with the
   LogFlux handler and, side by side in the same run, with a NullHandler:
   rounds of 10,000 calls, the two loggers alternating round by round so
   that both see the same load. Per call: wall time (time.perf_counter_ns
   around each call; p50, p99, mean) and the calling thread's CPU time
   (time.thread_time_ns around each round, divided by its calls), which a
   busy machine inflates much less than wall time. The process CPU of the
   handler's rounds (up to the agent's confirmation) adds the sender
   thread's share.
2. Entries per second into a real agent over its Unix socket, counted up to
   the agent's flush answer, through ``Client.log`` and through
   ``logger.info`` with the handler; with the process's CPU time and the
   agent's per entry.

Every figure is printed next to the NullHandler's, with their ratio: on the
shared development machine only ratios measured in one run mean much.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import logflux  # noqa: E402
from tests.agentproc import Agent  # noqa: E402


def bench_loggers(client: logflux.Client) -> tuple[logging.Logger, logging.Logger]:
    """The two loggers compared: one with a NullHandler, one with a
    logflux.Handler on client; both at INFO, not propagating."""
    null = logging.getLogger("bench.null")
    null.propagate = False
    null.addHandler(logging.NullHandler())
    null.setLevel(logging.INFO)
    lf = logging.getLogger("bench.logflux")
    lf.propagate = False
    lf.addHandler(logflux.Handler(client))
    lf.setLevel(logging.INFO)
    return null, lf


def one_round(logger: logging.Logger, n: int, samples: list[int]) -> int:
    """n calls, their wall times appended to samples; returns the calling
    thread's CPU nanoseconds for the round."""
    clock = time.perf_counter_ns
    info = logger.info
    c0 = time.thread_time_ns()
    for i in range(n):
        t0 = clock()
        info("msg %s", i)
        samples.append(clock() - t0)
    return time.thread_time_ns() - c0


def pct(xs: list[int], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] / 1000


def thread_cpu(native_id: int | None) -> float:
    """A thread of this process's CPU seconds so far (0 if it is gone)."""
    try:
        with open(f"/proc/self/task/{native_id}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def agent_cpu(agent: Agent) -> float:
    """The agent process's CPU seconds so far (user + system)."""
    assert agent.proc is not None
    with open(f"/proc/{agent.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent-bin", default=os.environ.get("LOGFLUX_AGENT_BIN", "bin/logflux-agent"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--entries", type=int, default=200_000)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
          f"logflux from {os.path.dirname(logflux.__file__)}")
    agent = Agent(os.path.abspath(args.agent_bin)).start()
    try:
        client = logflux.Client(address=agent.addr, source="bench", max_queue_bytes=256 << 20)
        null, lf = bench_loggers(client)
        warm: list[int] = []
        one_round(null, 2000, warm)
        one_round(lf, 2000, warm)
        client.flush(30)

        a: list[int] = []
        b: list[int] = []
        cpu_a = cpu_b = proc_b = 0
        for _ in range(args.rounds):
            cpu_a += one_round(null, args.calls, a)
            p0 = time.process_time_ns()
            cpu_b += one_round(lf, args.calls, b)
            client.flush(60)
            proc_b += time.process_time_ns() - p0
        n = args.rounds * args.calls

        def row(name: str, xs: list[int], cpu: int) -> None:
            print(f"  {name:<16} p50 {pct(xs, .5):7.2f} µs  p99 {pct(xs, .99):7.2f} µs  "
                  f"mean {statistics.mean(xs) / 1000:7.2f} µs  thread CPU {cpu / n / 1000:6.2f} µs/call")

        print(f"logger.info(\"msg %s\", i), {args.rounds} rounds × {args.calls} calls, alternating:")
        row("NullHandler", a, cpu_a)
        row("logflux.Handler", b, cpu_b)
        print(f"  ratio Handler/Null: p50 {pct(b, .5) / pct(a, .5):.2f}  p99 {pct(b, .99) / pct(a, .99):.2f}  "
              f"thread CPU {cpu_b / cpu_a:.2f}")
        print(f"  Handler rounds up to the agent's confirmation: process CPU {proc_b / n / 1000:.2f} µs/entry "
              f"(caller + sender thread); dropped {client.stats().dropped}")

        def end_to_end(name: str, log_n: object) -> None:
            m = args.entries
            sender = client._thread.native_id if client._thread is not None else None
            s0 = thread_cpu(sender)
            c0, a0 = time.process_time(), agent_cpu(agent)
            t0 = time.perf_counter()
            log_n(m)  # type: ignore[operator]
            t1 = time.perf_counter()
            ok = client.flush(120)
            t2 = time.perf_counter()
            c1, a1 = time.process_time(), agent_cpu(agent)
            s1 = thread_cpu(sender)
            s = client.stats()
            print(f"  {name:<12} {m / (t2 - t0):9,.0f} entries/s  (logged in {t1 - t0:.2f}s, confirmed after "
                  f"{t2 - t0:.2f}s; CPU per entry: this process {(c1 - c0) / m * 1e6:.2f} µs "
                  f"(sender thread {(s1 - s0) / m * 1e6:.2f}), agent {(a1 - a0) / m * 1e6:.2f} µs; "
                  f"flush {ok}, dropped {s.dropped})")

        def via_client(m: int) -> None:
            log = client.log
            for i in range(m):
                log("benchmark entry with a typical length of text, number %d" % i, metadata={"k": "v", "i": "x"})

        def via_handler(m: int) -> None:
            info = lf.info
            for i in range(m):
                info("benchmark entry with a typical length of text, number %d", i)

        print(f"end to end into the agent ({args.entries} entries each, Unix socket, up to the flush answer):")
        end_to_end("Client.log", via_client)
        end_to_end("logger.info", via_handler)
        client.close()
    finally:
        agent.cleanup()


if __name__ == "__main__":
    main()
