"""Instructions per call of the SDK's hot paths, counted by valgrind: a
figure that a busy machine does not disturb (not run by the tests).

    python bench/icount.py                      # every workload, this checkout's src/
    PYTHONPATH=/other/src python bench/icount.py client enc_client

Each workload runs under ``valgrind --tool=cachegrind`` twice, with N1 and
N2 calls; the difference of the two instruction counts over N2 - N1 is the
cost of one call, without the interpreter's start. Workloads:

- ``null``: ``logger.info("... %d", i)`` into a NullHandler (the floor)
- ``handler``: the same into ``logflux.Handler`` (calling thread only)
- ``client``: ``Client.log(text, metadata={2 keys})`` (calling thread only)
- ``enc_client``, ``enc_handler``: the sender's encoding of those entries
  into batch lines, per entry

The calling-thread workloads run with the sender thread stopped (the queue
is only filled), so that they count that thread alone.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys

MODES = ("null", "handler", "client", "enc_client", "enc_handler")
TEXT = "benchmark entry with a typical length of text, number %d"


def workload(mode: str, n: int) -> None:
    import logflux
    from bench import bench_loggers  # this script's folder is on sys.path
    from logflux import _wire

    client = logflux.Client(address="unix:///nonexistent/logflux-icount.sock", source="bench",
                            max_queue_bytes=1 << 30, on_error=lambda e: None)
    # Fill the queue only: no sender thread, no wake-ups.
    client._start_sender = lambda: None  # type: ignore[method-assign]
    client._wake = lambda: None  # type: ignore[method-assign]
    null, lf = bench_loggers(client)
    md = {"k": "v", "i": "x"}

    # One small function per loop, so that logging's findCaller looks up
    # the same line numbers for every workload.
    def via_logger(logger: logging.Logger, m: int) -> None:
        info = logger.info
        for i in range(m):
            info(TEXT, i)

    def via_client(m: int) -> None:
        log = client.log
        for i in range(m):
            log(TEXT % i, metadata=md)

    def encode(m: int) -> None:
        items = list(client._waiting)
        client._waiting.clear()
        for _ in range(m // len(items)):
            _wire.batch_line(items)

    if mode == "null":
        via_logger(null, n)
    elif mode == "handler":
        via_logger(lf, n)
    elif mode == "client":
        via_client(n)
    elif mode == "enc_client":
        via_client(100)
        encode(n)
    elif mode == "enc_handler":
        via_logger(lf, 100)
        encode(n)
    os._exit(0)  # no exit work in the count


def count(mode: str, n: int) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, os.path.abspath(__file__), "--run", mode, str(n)],
        capture_output=True, text=True, check=True).stderr
    m = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if m is None:
        raise SystemExit(f"no instruction count from valgrind:\n{out}")
    return int(m.group(1).replace(",", ""))


def main() -> None:
    if sys.argv[1:2] == ["--run"]:
        workload(sys.argv[2], int(sys.argv[3]))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    modes = sys.argv[1:] or list(MODES)
    n1, n2 = 5000, 10000
    import logflux

    print(f"python {sys.version.split()[0]}, logflux from {os.path.dirname(logflux.__file__)}")
    for mode in modes:
        per = (count(mode, n2) - count(mode, n1)) / (n2 - n1)
        print(f"  {mode:<12} {per:9,.0f} instructions per call")


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    if os.environ.get("PYTHONPATH"):
        sys.path.insert(0, os.environ["PYTHONPATH"].split(os.pathsep)[0])
    main()
