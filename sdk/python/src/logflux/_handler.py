"""The logging.Handler: emit() formats the record and queues it; the
client's sender thread does the rest."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ._client import Client
from ._entry import MAX_PAYLOAD_BYTES, EntryType, cut_bytes

# Attributes every LogRecord has; anything else in record.__dict__ came from
# `extra` and becomes metadata.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName",
}

# logging levels → Agent API levels, for 0..60; custom levels take the
# nearest standard one (ties go to the more severe).
_ANCHORS = ((10, 8), (20, 7), (30, 5), (40, 4), (50, 3))


def _nearest(levelno: int) -> int:
    best = min(_ANCHORS, key=lambda a: (abs(a[0] - levelno), -a[0]))
    return best[1]


_LEVELS = tuple(_nearest(n) for n in range(61))


def agent_level(levelno: int) -> int:
    """The Agent API level (1-8) for a logging level number."""
    if 0 <= levelno <= 60:
        return _LEVELS[levelno]
    return 8 if levelno < 0 else 3


_guard = threading.local()


class MessageFormatter(logging.Formatter):
    """The handler's default formatter: the record's message alone (the
    traceback goes to metadata). Set another formatter to shape the payload."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


class Handler(logging.Handler):
    """A logging.Handler that sends records to the LogFlux agent.

    ``Handler(client=None, level=NOTSET, **client_options)``: with no client,
    the handler makes its own from ``client_options`` (the arguments of
    ``Client``) and closes it in ``close()`` (which ``logging.shutdown`` calls
    at exit); a client passed in is only flushed there.

    The record's message (or, with a formatter set, the formatted text) is
    the payload; the logger name, module, function, line, thread and process
    names, the formatted traceback, the stack, and every ``extra`` key (an
    extra key wins over these) become metadata.
    """

    def __init__(self, client: Client | None = None, level: int | str = logging.NOTSET,
                 **client_options: Any) -> None:
        super().__init__(level)
        # A formatter of its own, so that logging.basicConfig does not put
        # its "LEVEL:name:message" one on the handler.
        self.setFormatter(MessageFormatter())
        self._owns = client is None
        self.client = client if client is not None else Client(**client_options)
        self._enqueue = self.client._enqueue
        self._source = self.client.source

    def handle(self, record: logging.LogRecord) -> bool:
        # emit is thread-safe: the handler's lock is not taken.
        rv: Any = self.filter(record)
        if isinstance(rv, logging.LogRecord):
            record = rv
        if rv:
            self.emit(record)
        return bool(rv)

    def emit(self, record: logging.LogRecord) -> None:
        name = record.name
        if name == "logflux" or name.startswith("logflux."):
            return  # the SDK's own diagnostics never go through itself
        if getattr(_guard, "busy", False):
            return
        _guard.busy = True
        try:
            plain = type(self.formatter) is MessageFormatter
            payload = record.getMessage() if plain else self.format(record)
            meta = {
                "logger": name,
                "module": record.module,
                "function": record.funcName or "",
                "line": str(record.lineno),
                "thread": record.threadName or "",
                "process": record.processName or "",
            }
            if record.exc_info and plain:
                if not record.exc_text:
                    record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                meta["exception"] = record.exc_text
            if record.stack_info:
                meta["stack"] = record.stack_info
            for k, v in record.__dict__.items():
                if k not in _STANDARD:
                    meta[k] = v if isinstance(v, str) else str(v)
            for k, v in meta.items():
                if len(v) > 1024:
                    meta[k] = v[:1023] + "…"
            if not payload:
                payload = "(empty)"
            elif len(payload) > MAX_PAYLOAD_BYTES // 4:
                payload = cut_bytes(payload, MAX_PAYLOAD_BYTES)
            self._enqueue(payload, agent_level(record.levelno), EntryType.LOG, self._source,
                          record.created, None, meta)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
        finally:
            _guard.busy = False

    def flush(self) -> None:
        """Waits (at most the client's exit_timeout) for the agent to
        confirm everything logged so far."""
        self.client.flush(self.client.exit_timeout)

    def close(self) -> None:
        try:
            if self._owns:
                self.client.close()
            else:
                self.client.flush(self.client.exit_timeout)
        finally:
            super().close()
