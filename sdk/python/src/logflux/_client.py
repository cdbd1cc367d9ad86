"""The client: a byte-bounded queue filled by the calling threads and one
daemon sender thread per process that owns the connection to the agent.

An entry's way through the client::

    log() ──append──▶ waiting ──take (≤100)──▶ pending ──pong──▶ unconfirmed ──flush answer──▶ released
                         ▲                        │                   │
                         └──────── retry ◀────────┴── lost connection ┘
                                (queue_full, reconnect, split)

Every entry stays charged to ``max_queue_bytes`` from ``log()`` until the
agent has confirmed it with its ``flush`` answer (or refused it, or it went
to the fallback file, or it was given up at ``close``), so the bound covers
what was sent but not yet confirmed too. Answers are matched to batches as
the Go SDK does: each batch is followed by a ping, and an error that comes
before the batch's pong is that batch's.

The calling thread only checks the entry, estimates its size and appends a
tuple to a deque, without taking a lock (an append is atomic, and a sequence
number from itertools.count too); JSON encoding happens on the sender thread,
a batch at a time. The bytes charged are two counters: ``_added``, raised by
the calling threads, and ``_released``, raised by the sender under the lock;
the queue holds their difference. Under the GIL ``_added += cost`` is not
interrupted in practice; where it could be (a free-threaded build) the count
can only come out low, never drift below what is queued.

The calling thread makes no system call (each one lets the sender take the
GIL in the middle of a log call): while entries keep coming the sender looks
at the queue every ``POLL_INTERVAL`` by itself; when it sleeps longer it
says so (``_idle``: wake me on any entry; ``_napping``: wake me when a batch
is full), and only then does a caller write to the wake-up pipe.
"""

from __future__ import annotations

import atexit
import itertools
import os
import random
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, cast

from ._entry import (
    INT_TYPES,
    MAX_SOURCE_CHARS,
    QUICK_PAYLOAD_CHARS,
    Entry,
    EntryType,
    Level,
    check,
    cut_chars,
    to_epoch,
    utf8_len,
)
from ._errors import AgentError, ConfigError, LogfluxError, UnavailableError
from ._fallback import FallbackFile
from ._wire import (
    ENV_SHARED_SECRET,
    FLUSH_LINE,
    MAX_LINE_BYTES,
    Answer,
    Connection,
    Endpoint,
    Metadata,
    QueueItem,
    batch_line,
    discover,
    encode_entry,
    make_wake_pipe,
    meta_json,
    parse_answer,
    wait_readable,
)

DEFAULT_MAX_QUEUE_BYTES = 8 << 20
DEFAULT_BATCH_BYTES = 1 << 20
DEFAULT_FLUSH_INTERVAL = 0.5
DEFAULT_DIAL_TIMEOUT = 2.0
DEFAULT_WRITE_TIMEOUT = 10.0
DEFAULT_MIN_BACKOFF = 0.05
DEFAULT_MAX_BACKOFF = 10.0
DEFAULT_FALLBACK_MAX_BYTES = 64 << 20
DEFAULT_FALLBACK_AFTER = 5.0
DEFAULT_EXIT_TIMEOUT = 5.0
MIN_QUEUE_BYTES = 64 << 10

# Memory charged per entry besides its text (the tuple, the encoded copy).
ENTRY_OVERHEAD = 96
# Batches written on the connection and not yet answered.
MAX_PENDING = 32
# The same kind of problem is reported to on_error at most this often.
REPORT_EVERY = 10.0
# While full batches keep coming, how often the sender looks at the queue
# (so callers need not wake it).
POLL_INTERVAL = 0.005
# Batches written to the socket with one call, up to this many bytes.
SEND_BYTES = 256 << 10

_Item = QueueItem


class _Batch:
    """Up to batch_size entries sent as one line."""

    __slots__ = ("items", "encoded", "cost")

    def __init__(self, items: list[_Item], cost: int | None = None) -> None:
        self.items = items
        self.encoded: bytes | None = None
        self.cost = sum(it[1] for it in items) if cost is None else cost

    @property
    def first_seq(self) -> int:
        return self.items[0][0]

    def line(self) -> bytes:
        """The batch line with its ping, encoded once."""
        if self.encoded is None:
            self.encoded = batch_line(self.items)
        return self.encoded


class _Pending:
    """A batch (or a flush, batch None) written and not yet answered."""

    __slots__ = ("batch", "err")

    def __init__(self, batch: _Batch | None) -> None:
        self.batch = batch
        self.err: AgentError | None = None


class _Backoff:
    """Capped exponential delays with full jitter: the n-th is drawn from
    [min, min(max, min·2^n)]."""

    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi, self.n = lo, hi, 0

    def next(self) -> float:
        ceil = self.lo * (2 ** self.n)
        if ceil >= self.hi:
            ceil = self.hi
        else:
            self.n += 1
        return random.uniform(self.lo, ceil)

    def reset(self) -> None:
        self.n = 0


@dataclass(frozen=True)
class Stats:
    """A snapshot of a client's counters (entries unless said otherwise).

    ``sent`` entries were accepted by the agent without an error (an entry
    resent after a lost connection may count twice); ``confirmed`` were
    confirmed durable by the agent's flush answer. ``dropped`` counts the
    entries given up, by reason: ``queue_full``, ``closed`` (logged after
    close), ``invalid`` (refused before sending), ``fallback_full``,
    ``fallback_error`` and ``unsent`` (unconfirmed at close, no fallback).
    ``rejected`` counts entries the agent refused, by its error code;
    ``retried`` counts batches sent again, by reason (``queue_full``,
    ``reconnect``, ``unavailable``, ``split``). ``connections`` is the number
    of connections open now (0 or 1)."""

    logged: int
    queued: int
    queued_bytes: int
    sent: int
    confirmed: int
    fallback: int
    dropped: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)
    connections: int = 0
    connects: int = 0
    dial_failures: int = 0
    last_error: BaseException | None = None


OnError = Callable[[LogfluxError], None]

_clients: weakref.WeakSet[Client] = weakref.WeakSet()


def _log_diagnostic(err: LogfluxError) -> None:
    # The "logflux" logger does not propagate, and the Handler skips its
    # records: the SDK never logs into itself. With no handler configured on
    # it, Python's last-resort handler prints warnings to stderr.
    import logging

    logging.getLogger("logflux").warning("logflux: %s", err)


class Client:
    """Sends entries to the LogFlux agent. Safe for use by many threads;
    ``log`` never blocks on the network and never raises for transport
    problems. See the package README for every option."""

    def __init__(
        self,
        address: str | None = None,
        shared_secret: str | None = None,
        source: str | None = None,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        batch_size: int = 100,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        fallback_file: str | os.PathLike[str] | None = None,
        on_error: OnError | None = None,
        *,
        batch_bytes: int | None = None,
        fallback_max_bytes: int = DEFAULT_FALLBACK_MAX_BYTES,
        fallback_after: float = DEFAULT_FALLBACK_AFTER,
        dial_timeout: float = DEFAULT_DIAL_TIMEOUT,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        min_backoff: float = DEFAULT_MIN_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        exit_timeout: float = DEFAULT_EXIT_TIMEOUT,
    ) -> None:
        problems: list[str] = []
        endpoints: list[Endpoint] = []
        try:
            endpoints = discover(address, os.environ)
        except ConfigError as e:
            problems.append(str(e))
        secret = shared_secret or os.environ.get(ENV_SHARED_SECRET, "")
        if len(endpoints) == 1 and endpoints[0].network == "tcp" and not secret:
            problems.append(f"{endpoints[0]} needs a shared secret (shared_secret or {ENV_SHARED_SECRET})")
        if source is None:
            source = _program_name()
        elif not source or len(source) > 256:
            problems.append("source must be 1 to 256 characters")
        if batch_bytes is None:
            batch_bytes = min(DEFAULT_BATCH_BYTES, max(max_queue_bytes // 4, 1))
        if max_queue_bytes < MIN_QUEUE_BYTES:
            problems.append(f"max_queue_bytes {max_queue_bytes} is less than 64 KiB")
        if not 1 <= batch_size <= 100:
            problems.append(f"batch_size {batch_size} is not between 1 and 100 (the agent's limit)")
        if not 1 <= batch_bytes <= MAX_LINE_BYTES or batch_bytes > max_queue_bytes:
            problems.append(f"batch_bytes {batch_bytes} is not between 1 and min(15 MiB, max_queue_bytes)")
        for name, v in (("flush_interval", flush_interval), ("dial_timeout", dial_timeout),
                        ("write_timeout", write_timeout), ("min_backoff", min_backoff),
                        ("max_backoff", max_backoff), ("exit_timeout", exit_timeout)):
            if not v > 0:
                problems.append(f"{name} {v!r} must be more than 0")
        if fallback_after < 0:
            problems.append(f"fallback_after {fallback_after!r} is negative")
        if max_backoff < min_backoff:
            problems.append(f"max_backoff {max_backoff} is less than min_backoff {min_backoff}")
        if fallback_max_bytes <= 0:
            problems.append(f"fallback_max_bytes {fallback_max_bytes} must be more than 0")
        if on_error is not None and not callable(cast(object, on_error)):
            problems.append("on_error must be callable")
        if problems:
            raise ConfigError("logflux: bad options: " + "; ".join(problems))

        self.source = source
        self._endpoints = endpoints
        self._secret = secret
        self._max_bytes = max_queue_bytes
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        self._interval = flush_interval
        self._fallback_path = os.fspath(fallback_file) if fallback_file is not None else None
        self._fallback_max = fallback_max_bytes
        self._fallback_after = fallback_after
        self._on_error = on_error
        self._dial_timeout = dial_timeout
        self._write_timeout = write_timeout
        self._min_backoff, self._max_backoff = min_backoff, max_backoff
        self.exit_timeout = exit_timeout
        self._close_lock = threading.Lock()
        self._close_result: bool | None = None
        self._closing = False
        self._reset_state()
        _clients.add(self)
        self._start_sender()

    # -- state -------------------------------------------------------------

    def _reset_state(self) -> None:
        """Everything a process owns alone: called at creation and in a
        forked child (the parent's queue and connection stay the parent's)."""
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiting: deque[_Item] = deque()
        self._retry: list[_Batch] = []
        self._pending: deque[_Pending] = deque()
        self._unconfirmed: list[_Batch] = []
        self._added = 0  # bytes charged, by the calling threads
        self._released = 0  # bytes released, under the lock
        self._seqs = itertools.count(1)
        self._logged = 0
        self._drained = False  # close() has emptied the queue for good
        self._sendable = 0
        self._idle = True  # until the sender runs: the first entry starts or wakes it
        self._napping = False
        self._stop = False
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._conn: Connection | None = None
        self._wake_r, self._wake_w = make_wake_pipe()
        self._fallback = FallbackFile(self._fallback_path, self._fallback_max) if self._fallback_path else None
        # Sender state.
        self._flush_want = 0
        self._looked = 0  # len(_waiting) when the sender last decided how long to sleep
        self._busy = False  # the sender's last pass wrote batches
        self._probe = False
        self._attempts = 0
        self._next_dial = 0.0
        self._down_since: float | None = None
        self._backoff = _Backoff(self._min_backoff, self._max_backoff)
        self._throttle = _Backoff(self._min_backoff, self._max_backoff)
        self._throttle_until = 0.0
        self._unflushed = False
        self._unflushed_oldest = 0
        self._unflushed_bytes = 0
        self._last_flush = time.monotonic()
        self._failures_in_row = 0
        self._reported: dict[str, float] = {}
        self._reported_drops = 0
        # Counters.
        self._sent = 0
        self._confirmed = 0
        self._fallback_n = 0
        self._connects = 0
        self._dial_failures = 0
        self._dropped: dict[str, int] = {}
        self._rejected: dict[str, int] = {}
        self._retried: dict[str, int] = {}
        self._last_error: BaseException | None = None

    def _after_fork_in_child(self) -> None:
        old_conn, old_fb = self._conn, self._fallback
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        if old_conn is not None:
            old_conn.detach_after_fork()
        if old_fb is not None:
            old_fb.close()
        self._close_lock = threading.Lock()
        self._reset_state()
        # The sender starts on the child's first log or flush.

    def _start_sender(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            t = threading.Thread(target=self._run, name="logflux-sender", daemon=True)
            self._thread = t
        try:
            t.start()
        except RuntimeError:  # interpreter shutting down: nothing can be sent
            self._stopped.set()

    # -- the calling threads ----------------------------------------------

    def log(
        self,
        payload: str,
        level: int = Level.INFO,
        *,
        entry_type: int = EntryType.LOG,
        source: str | None = None,
        timestamp: float | Any = None,
        payload_type: str | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> bool:
        """Queues one entry and returns at once: True if queued, False if it
        was dropped (counted in ``stats().dropped`` by reason: ``queue_full``,
        ``closed`` or ``invalid``). Never raises for transport problems."""
        if not source:
            source = self.source
        try:
            ts = time.time() if timestamp is None else to_epoch(timestamp)
            # Encoded here, in a few calls into C: cheaper than a checked
            # copy, and the sender has nothing left to do for it.
            meta = meta_json(metadata) if metadata else None
        except (TypeError, ValueError, OverflowError, OSError):
            self._drop("invalid")
            return False
        if not (type(payload) is str and 0 < len(payload) <= QUICK_PAYLOAD_CHARS and type(level) in INT_TYPES
                and 1 <= level <= 8 and type(entry_type) in INT_TYPES and 1 <= entry_type <= 5
                and type(source) is str and len(source) <= MAX_SOURCE_CHARS and payload_type is None) and (
                check(payload, level, entry_type, source, payload_type) is not None):
            self._drop("invalid")
            return False
        cost = ENTRY_OVERHEAD + (len(payload) if payload.isascii() else utf8_len(payload)) + len(source)
        if meta:
            cost += len(meta)
        return self._put(payload, level, entry_type, source, ts, payload_type, meta, cost)

    def log_entry(self, entry: Entry) -> bool:
        """Queues an Entry (as built by metric, trace, event, audit)."""
        return self.log(entry.payload, entry.level, entry_type=entry.entry_type, source=entry.source,
                        timestamp=entry.timestamp, payload_type=entry.payload_type, metadata=entry.metadata)

    def _drop(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + n

    def _put(self, payload: str, level: int, entry_type: int, source: str, ts: float,
             payload_type: str | None, meta: Metadata, cost: int) -> bool:
        """Appends a checked entry of cost bytes, without a lock (see the
        module doc)."""
        if self._closing:
            self._drop("closed")
            return False
        if self._added - self._released + cost > self._max_bytes:
            self._drop("queue_full")
            return False
        self._added += cost
        self._logged += 1
        w = self._waiting
        w.append((next(self._seqs), cost, payload, level, entry_type, source, ts, payload_type, meta))
        if self._closing:  # close() may have begun since the check above
            return self._after_close()  # type: ignore[unreachable]
        if self._idle or (self._napping and len(w) % self._batch_size == 0):
            self._idle = self._napping = False
            if self._thread is None:
                self._start_sender()
            self._wake()
        return True

    def _after_close(self) -> bool:
        """An entry appended while close() ran: close takes it, or, if it
        has already emptied the queue, it is dropped here as ``closed``."""
        with self._lock:
            if not self._drained:
                return True
            n = cost = 0
            while self._waiting:
                cost += self._waiting.popleft()[1]
                n += 1
            self._released += cost
            if n:
                self._dropped["closed"] = self._dropped.get("closed", 0) + n
            return False

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except OSError:  # full (a wake-up is already pending) or closed
            pass

    # -- flush and close ---------------------------------------------------

    def _oldest_outstanding(self) -> int | None:
        """The lowest sequence number not yet settled (lock held)."""
        best: int | None = self._waiting[0][0] if self._waiting else None
        for b in self._retry:
            if best is None or b.first_seq < best:
                best = b.first_seq
        for p in self._pending:
            if p.batch is not None and (best is None or p.batch.first_seq < best):
                best = p.batch.first_seq
        for b in self._unconfirmed:
            if best is None or b.first_seq < best:
                best = b.first_seq
        return best

    def flush(self, timeout: float = 5.0) -> bool:
        """Waits until the agent has confirmed, with the Agent API's flush
        action, that every entry logged before the call is durable (entries
        it refused or that went to the fallback count as done). Returns
        False when timeout seconds pass first, when the agent cannot be
        reached (one connection attempt is made at once), or after close.
        Blocks the calling thread: in coroutines use ``aflush``."""
        if self._closing:
            return False
        return self._flush(timeout)

    def _flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            # A number after every entry logged so far (and before any
            # logged from now on).
            target = next(self._seqs)
            oldest = self._oldest_outstanding()
            if oldest is None or oldest > target:
                return True
            self._flush_want = max(self._flush_want, target)
            self._sendable = len(self._waiting)
            if self._conn is None:
                self._probe = True
            attempts = self._attempts
            start = self._thread is None
        if start:
            self._start_sender()
        self._wake()
        with self._cond:
            while True:
                oldest = self._oldest_outstanding()
                if oldest is None or oldest > target:
                    return True
                if self._down_since is not None and self._attempts > attempts:
                    return False
                if self._stopped.is_set():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)

    async def aflush(self, timeout: float = 5.0) -> bool:
        """``flush`` for coroutines: waits on a worker thread, so the event
        loop keeps running."""
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(None, self.flush, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flushes (for at most timeout seconds, default ``exit_timeout``),
        stops the sender and closes the connection. Entries still
        unconfirmed then go to the fallback file, or are dropped and counted
        as ``unsent``. Returns whether the flush succeeded. Idempotent."""
        with self._close_lock:
            if self._close_result is not None:
                return self._close_result
            with self._lock:
                self._closing = True
            ok = self._flush(self.exit_timeout if timeout is None else timeout)
            with self._lock:
                self._stop = True
                t = self._thread
            self._wake()
            if t is not None and t is not threading.current_thread():
                t.join(self._dial_timeout + 1.0)
            with self._lock:
                rest = list(self._retry)
                rest += [p.batch for p in self._pending if p.batch is not None]
                rest += self._unconfirmed
                rest.sort(key=lambda b: b.first_seq)
                waiting = self._take_waiting()
                if waiting:
                    rest.append(_Batch(waiting))
                self._retry, self._unconfirmed = [], []
                self._pending.clear()
                self._drained = True
            self._spill(rest, "unsent")
            if self._fallback is not None:
                self._fallback.close()
            self._close_result = ok
            return ok

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> Stats:
        """A snapshot of the counters."""
        with self._lock:
            queued = len(self._waiting) + sum(len(b.items) for b in self._retry)
            queued += sum(len(p.batch.items) for p in self._pending if p.batch is not None)
            queued += sum(len(b.items) for b in self._unconfirmed)
            return Stats(
                logged=self._logged, queued=queued, queued_bytes=self._added - self._released, sent=self._sent,
                confirmed=self._confirmed, fallback=self._fallback_n, dropped=dict(self._dropped),
                rejected=dict(self._rejected), retried=dict(self._retried),
                connections=1 if self._conn is not None else 0, connects=self._connects,
                dial_failures=self._dial_failures, last_error=self._last_error)

    # -- the sender thread -------------------------------------------------

    def _run(self) -> None:
        conn: Connection | None = None
        next_tick = time.monotonic() + self._interval
        try:
            while True:
                now = time.monotonic()
                with self._lock:
                    if self._stop:
                        break
                    if now >= next_tick:
                        self._sendable = len(self._waiting)
                        next_tick = now + self._interval
                if conn is None:
                    conn = self._maybe_dial(now)
                wait: float | None = next_tick - now
                if conn is not None:
                    try:
                        wait = self._pump(conn, now, next_tick)
                    except (OSError, LogfluxError) as e:
                        self._teardown(conn, e)
                        conn = None
                        continue
                else:
                    wait = self._dial_wait(now, next_tick)
                    self._busy = False
                if wait is None or wait > POLL_INTERVAL:
                    if self._busy:
                        wait = POLL_INTERVAL  # full batches keep coming: look again soon
                        self._napping = False
                    else:
                        # Tell the callers to wake this thread, then look
                        # again: an entry appended before they could see
                        # the flag must not wait for the timeout.
                        self._napping = True
                        w = len(self._waiting)
                        if w // self._batch_size != self._looked // self._batch_size or (
                                self._idle and self._has_work()):
                            self._idle = self._napping = False
                            continue
                else:
                    self._napping = False
                fds = [self._wake_r] if conn is None else [self._wake_r, conn.fileno()]
                if self._wake_r in wait_readable(fds, None if wait is None else max(wait, 0.0)):
                    try:
                        while os.read(self._wake_r, 512):
                            pass
                    except OSError:
                        pass
                self._report_drops()
        finally:
            if conn is not None:
                self._teardown(conn, None)
            with self._cond:
                self._stopped.set()
                self._cond.notify_all()

    def _has_work(self) -> bool:
        return bool(self._waiting or self._retry)

    def _dial_wait(self, now: float, next_tick: float) -> float | None:
        with self._lock:
            self._looked = len(self._waiting)
            if not self._has_work():
                self._idle = True
                return None
            wait = min(next_tick, max(self._next_dial, now)) - now
            if self._fallback is not None and self._down_since is not None:
                wait = min(wait, self._down_since + self._fallback_after - now)
            return wait

    def _maybe_dial(self, now: float) -> Connection | None:
        with self._lock:
            if not self._has_work():
                return None
            if not self._probe and now < self._next_dial:
                spill = self._spill_due(now)
                if not spill:
                    return None
            else:
                spill = False
                self._probe = False
        if spill:
            self._spill_queued()
            return None
        try:
            conn = Connection.dial(self._endpoints, self._secret, self._dial_timeout)
        except (OSError, LogfluxError) as e:
            err = e if isinstance(e, LogfluxError) else UnavailableError(str(e))
            if not isinstance(e, LogfluxError):
                err.__cause__ = e
            with self._cond:
                self._attempts += 1
                self._dial_failures += 1
                self._failures_in_row += 1
                self._last_error = err
                t = time.monotonic()
                if self._down_since is None:
                    self._down_since = t
                self._next_dial = t + self._backoff.next()
                spill = self._spill_due(t)
                self._cond.notify_all()
            self._report("dial", err)
            if spill:
                self._spill_queued()
            return None
        with self._cond:
            self._attempts += 1
            self._connects += 1
            self._conn = conn
            failures, self._failures_in_row = self._failures_in_row, 0
            self._down_since = None
            self._backoff.reset()
            self._last_flush = time.monotonic()
            self._cond.notify_all()
        if failures:
            import logging

            logging.getLogger("logflux").info("logflux: connected to %s after %d failed attempts",
                                              conn.endpoint, failures)
            self._reported.pop("dial", None)
        return conn

    def _spill_due(self, now: float) -> bool:
        """Whether queued entries go to the fallback now (lock held): the
        agent has been down fallback_after, or the queue is 3/4 full."""
        if self._fallback is None or self._down_since is None:
            return False
        queued = self._added - self._released
        return now - self._down_since >= self._fallback_after or queued * 4 >= self._max_bytes * 3

    def _take_waiting(self) -> list[_Item]:
        """Empties the waiting queue (lock held): popped one by one, so
        that an entry appended meanwhile is either taken or stays."""
        w = self._waiting
        items: list[_Item] = []
        while w:
            items.append(w.popleft())
        return items

    def _spill_queued(self) -> None:
        with self._lock:
            batches = sorted(self._retry, key=lambda b: b.first_seq)
            waiting = self._take_waiting()
            if waiting:
                batches.append(_Batch(waiting))
            self._retry = []
        self._spill(batches, "unsent")

    def _spill(self, batches: list[_Batch], no_fallback_reason: str) -> None:
        """Writes the batches to the fallback (or drops them) and releases
        them."""
        for b in batches:
            n = len(b.items)
            written, err = 0, None
            reason = no_fallback_reason
            if self._fallback is not None:
                lines = [encode_entry(*it[2:]).encode("ascii") for it in b.items]
                written, err = self._fallback.write(lines)
                reason = "fallback_error" if err is not None else "fallback_full"
            with self._cond:
                self._fallback_n += written
                if n - written:
                    self._dropped[reason] = self._dropped.get(reason, 0) + n - written
                self._released += b.cost
                if err is not None:
                    self._last_error = UnavailableError(f"fallback file {self._fallback_path}: {err}")
                self._cond.notify_all()

    def _take_batch(self) -> _Batch | None:
        """The next batch to send (lock held), or None."""
        if self._retry:
            self._retry.sort(key=lambda b: b.first_seq)
            return self._retry.pop(0)
        w = self._waiting
        if not w:
            return None
        if not (len(w) >= self._batch_size or self._sendable > 0 or self._closing
                or w[0][0] <= self._flush_want):
            return None
        items: list[_Item] = []
        size = 0
        while w and len(items) < self._batch_size:
            c = w[0][1]
            if items and size + c > self._batch_bytes:
                break
            items.append(w.popleft())
            size += c
        self._sendable = max(0, self._sendable - len(items))
        return _Batch(items)

    def _flush_due(self, now: float) -> bool:
        """Whether to ask the agent to confirm what was sent (lock held)."""
        if not self._unflushed:
            return False
        if self._flush_want >= self._unflushed_oldest:
            oldest_unsent = self._waiting[0][0] if self._waiting else None
            for b in self._retry:
                if oldest_unsent is None or b.first_seq < oldest_unsent:
                    oldest_unsent = b.first_seq
            if oldest_unsent is None or oldest_unsent > self._flush_want:
                return True
        limit = max(self._batch_bytes, self._max_bytes // 4)
        return self._unflushed_bytes >= limit or now - self._last_flush >= self._interval

    def _pump(self, conn: Connection, now: float, next_tick: float) -> float | None:
        """Reads the answers that arrived, writes what is due. Returns how
        long the sender may sleep (None: until woken)."""
        self._read_answers(conn)
        self._busy = False
        while True:
            # Batches due now, written with one sendall (up to SEND_BYTES).
            lines: list[bytes] = []
            size = 0
            while size < SEND_BYTES:
                with self._lock:
                    npending = sum(1 for p in self._pending if p.batch is not None)
                    if npending >= MAX_PENDING or time.monotonic() < self._throttle_until:
                        batch = None
                    else:
                        batch = self._take_batch()
                    if batch is not None:
                        self._pending.append(_Pending(batch))
                        if not self._unflushed or batch.first_seq < self._unflushed_oldest:
                            self._unflushed_oldest = batch.first_seq
                        self._unflushed = True
                        self._unflushed_bytes += batch.cost
                if batch is None:
                    break
                line = batch.line()
                lines.append(line)
                size += len(line)
            if not lines:
                break
            self._busy = True
            conn.send(lines[0] if len(lines) == 1 else b"".join(lines), self._write_timeout)
            self._read_answers(conn)
        now = time.monotonic()
        with self._lock:
            send_flush = self._flush_due(now)
            if send_flush:
                self._pending.append(_Pending(None))
                self._unflushed = False
                self._unflushed_bytes = 0
                self._last_flush = now
        if send_flush:
            conn.send(FLUSH_LINE, self._write_timeout)
        with self._lock:
            self._looked = len(self._waiting)
            waits = [next_tick - now] if self._waiting else []
            if self._unflushed:
                waits.append(self._last_flush + self._interval - now)
            if self._throttle_until > now and (self._retry or self._waiting):
                waits.append(self._throttle_until - now)
            if not waits and not self._pending and not self._retry:
                self._idle = True
                return None
            if not waits:
                return self._interval
            return min(waits)

    def _read_answers(self, conn: Connection) -> None:
        lines = conn.ready_lines()
        if not lines:
            return
        reports: list[tuple[str, LogfluxError]] = []
        with self._cond:
            for line in lines:
                self._match(parse_answer(line), reports)
            self._cond.notify_all()
        for key, err in reports:
            self._report(key, err)

    def _match(self, ans: Answer, reports: list[tuple[str, LogfluxError]]) -> None:
        """Applies one answer to the oldest pending item (lock held)."""
        if not self._pending:
            if ans.status == "error":
                raise ans.error()  # the agent is about to close the connection
            return
        head = self._pending[0]
        if ans.status == "pong":
            if head.batch is None:
                raise AgentError("protocol", "the agent's answers do not match what was sent")
            self._pending.popleft()
            b, err = head.batch, head.err
            n = len(b.items)
            if err is None:
                self._sent += n
                self._unconfirmed.append(b)
                self._throttle.reset()
            elif err.code == "invalid_entry" and err.errors:
                bad = len({e.index for e in err.errors if 0 <= e.index < n}) or n
                self._rejected[err.code] = self._rejected.get(err.code, 0) + bad
                self._sent += n - bad
                self._unconfirmed.append(b)
                self._last_error = err
                reports.append(("rejected", err))
            elif err.code == "queue_full":
                self._retried["queue_full"] = self._retried.get("queue_full", 0) + 1
                self._throttle_until = time.monotonic() + self._throttle.next()
                self._retry.append(b)
            elif err.code == "unavailable":
                self._retried["unavailable"] = self._retried.get("unavailable", 0) + 1
                self._retry.append(b)
            elif err.code in ("message_too_large", "batch_too_large") and n > 1:
                self._retried["split"] = self._retried.get("split", 0) + 1
                half = n // 2
                self._retry += [_Batch(b.items[:half]), _Batch(b.items[half:])]
            else:
                self._rejected[err.code] = self._rejected.get(err.code, 0) + n
                self._released += b.cost
                self._last_error = err
                reports.append(("rejected", err))
        elif ans.status == "success" and ans.action == "flush":
            if head.batch is not None:
                raise AgentError("protocol", "the agent's answers do not match what was sent")
            self._pending.popleft()
            self._confirm_all()
        elif ans.status == "error":
            if head.batch is None:
                # An agent without the flush extension: the batches were
                # accepted, but nothing more can be known.
                self._pending.popleft()
                self._confirm_all()
                self._last_error = ans.error()
            elif head.err is None:
                head.err = ans.error()

    def _confirm_all(self) -> None:
        for b in self._unconfirmed:
            self._confirmed += len(b.items)
            self._released += b.cost
        self._unconfirmed = []

    def _teardown(self, conn: Connection, cause: BaseException | None) -> None:
        """Closes the connection; what it had not got confirmed is sent
        again on the next one."""
        conn.close()
        with self._cond:
            back = [p.batch for p in self._pending if p.batch is not None] + self._unconfirmed
            self._pending.clear()
            self._unconfirmed = []
            if back and cause is not None:
                self._retried["reconnect"] = self._retried.get("reconnect", 0) + len(back)
            self._retry += back
            self._conn = None
            self._unflushed = False
            self._unflushed_bytes = 0
            if cause is not None:
                err = cause if isinstance(cause, LogfluxError) else UnavailableError(f"connection lost: {cause}")
                self._last_error = err
            self._cond.notify_all()

    def _report_drops(self) -> None:
        with self._lock:
            total = self._dropped.get("queue_full", 0)
            new = total - self._reported_drops
        if new > 0 and self._report("queue_full", LogfluxError(
                f"queue full ({self._max_bytes} bytes): {new} entries dropped")):
            self._reported_drops = total

    def _report(self, key: str, err: LogfluxError) -> bool:
        """Passes err to on_error, at most once per REPORT_EVERY seconds for
        the same key. Reports whether it was passed on."""
        now = time.monotonic()
        last = self._reported.get(key)
        if last is not None and now - last < REPORT_EVERY:
            return False
        self._reported[key] = now
        try:
            (self._on_error or _log_diagnostic)(err)
        except Exception:  # noqa: BLE001 - a broken callback must not stop the sender
            pass
        return True


def _program_name() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if name.endswith(".py"):
        name = name[:-3]
    if not name or name in ("-c", "-m", "-"):
        return "python-app"
    return cut_chars(name, 256)


def _close_all_at_exit() -> None:
    for c in list(_clients):
        try:
            c.close()
        except Exception:  # noqa: BLE001 - never fail the interpreter's exit
            pass


class _Token:
    """A weak-referenceable key for multiprocessing's after-fork registry."""


_MP_TOKEN = _Token()


def _finalize_in_mp_child(_: object) -> None:
    from multiprocessing import util

    util.Finalize(None, _close_all_at_exit, exitpriority=0)


def _after_fork_in_child() -> None:
    for c in list(_clients):
        c._after_fork_in_child()
    mp = sys.modules.get("multiprocessing.util")
    if mp is not None and _clients:
        # multiprocessing's fork children end with os._exit, which skips
        # atexit, and clear the finalizers at start; its after-fork hooks
        # run after that, and register the drain as a finalizer.
        mp.register_after_fork(_MP_TOKEN, _finalize_in_mp_child)


atexit.register(_close_all_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
