"""Benchmarks of the Python SDK (not run by the tests).

    python bench/bench.py --agent-bin ../../bin/logflux-agent

1. Cost of one ``logger.info("msg %s", x)`` on the calling thread, with the
   LogFlux handler and, side by side in the same run, with a NullHandler
   (richbench-like: 5 rounds of 10,000 calls; per-call times from
   time.perf_counter_ns around each call, p50 and p99).
2. Entries per second into a real agent over its Unix socket, counted up to
   the agent's flush answer.
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


def per_call(logger: logging.Logger, rounds: int = 5, n: int = 10_000) -> list[int]:
    samples: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for i in range(n):
            t0 = clock()
            logger.info("msg %s", i)
            samples.append(clock() - t0)
    return samples


def pct(xs: list[int], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] / 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent-bin", default=os.environ.get("LOGFLUX_AGENT_BIN", "bin/logflux-agent"))
    ap.add_argument("--entries", type=int, default=200_000)
    args = ap.parse_args()
    agent = Agent(os.path.abspath(args.agent_bin)).start()
    try:
        null = logging.getLogger("bench.null")
        null.propagate = False
        null.addHandler(logging.NullHandler())
        null.setLevel(logging.INFO)
        lf = logging.getLogger("bench.logflux")
        lf.propagate = False
        client = logflux.Client(address=agent.addr, source="bench", max_queue_bytes=256 << 20)
        lf.addHandler(logflux.Handler(client))
        lf.setLevel(logging.INFO)
        per_call(null, 1, 2000)
        per_call(lf, 1, 2000)
        client.flush(30)
        a = per_call(null)
        b = per_call(lf)
        client.flush(60)
        print(f"logger.info, NullHandler:      p50 {pct(a, .5):6.2f} µs  p99 {pct(a, .99):6.2f} µs  "
              f"mean {statistics.mean(a) / 1000:6.2f} µs")
        print(f"logger.info, logflux.Handler:  p50 {pct(b, .5):6.2f} µs  p99 {pct(b, .99):6.2f} µs  "
              f"mean {statistics.mean(b) / 1000:6.2f} µs")
        print(f"  dropped: {client.stats().dropped}")

        n = args.entries
        t0 = time.perf_counter()
        for i in range(n):
            client.log("benchmark entry with a typical length of text, number %d" % i,
                       metadata={"k": "v", "i": "x"})
        t1 = time.perf_counter()
        ok = client.flush(120)
        t2 = time.perf_counter()
        s = client.stats()
        print(f"end to end: {n} entries logged in {t1 - t0:.2f}s, confirmed by the agent after {t2 - t0:.2f}s: "
              f"{n / (t2 - t0):,.0f} entries/s (flush {ok}, dropped {s.dropped})")
        client.close()
    finally:
        agent.cleanup()


if __name__ == "__main__":
    main()
