"""The logging.Handler: emit() formats the record and queues it; the
client's sender thread does the rest."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from ._client import ENTRY_OVERHEAD, Client
from ._entry import MAX_PAYLOAD_BYTES, EntryType, cut_bytes, utf8_len

# Attributes every LogRecord has; anything else in record.__dict__ came from
# `extra` (or a record factory) and becomes metadata. A record with no more
# attributes than a fresh one has nothing else, and is not walked.
_FRESH = logging.LogRecord("", 0, "", 0, "", (), None).__dict__
_STANDARD = frozenset(_FRESH) | {"message", "asctime", "taskName"}
_FRESH_LEN = len(_FRESH)

# Bytes charged to the queue for a record's metadata besides the exception,
# stack and extra keys (the names of logger, module, function, thread and
# process are short and come again and again).
_RECORD_META_COST = 128

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


# The threads inside emit, by ident: a record logged while emit runs on the
# same thread (a message argument's __str__ that logs, say) is not sent
# through this handler again. A dict with the subscript operators costs a
# third of a threading.local's attribute get and two sets. A forked child
# starts with no thread inside emit.
_busy: dict[int, bool] = {}
os.register_at_fork(after_in_child=_busy.clear)
_get_ident = threading.get_ident
_exc_formatter = logging.Formatter()
_LOG = int(EntryType.LOG)


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
        self._put = self.client._put
        self._source = self.client.source
        self._source_len = len(self._source)

    def handle(self, record: logging.LogRecord) -> bool:
        # emit is thread-safe: the handler's lock is not taken.
        if not self.filters:
            self.emit(record)
            return True
        rv: Any = self.filter(record)
        if isinstance(rv, logging.LogRecord):
            record = rv
        if rv:
            self.emit(record)
        return bool(rv)

    def emit(self, record: logging.LogRecord) -> None:
        # The calling thread takes the record's fields as they are now (the
        # message formatted, extra values through str()) and queues them in
        # a tuple; the sender thread turns them into metadata and JSON.
        name = record.name
        if name.startswith("logflux") and (name == "logflux" or name.startswith("logflux.")):
            return  # the SDK's own diagnostics never go through itself
        busy = _busy
        me = _get_ident()
        if me in busy:
            return
        busy[me] = True
        try:
            exc = record.exc_text
            if type(self.formatter) is MessageFormatter:
                payload = record.getMessage()
                if record.exc_info and not exc:
                    exc = record.exc_text = _exc_formatter.formatException(record.exc_info)
            else:
                payload = self.format(record)
                exc = record.exc_text
            cost = _RECORD_META_COST
            if exc:
                cost += len(exc)
            stack = record.stack_info
            if stack:
                cost += len(stack)
            extras: dict[str, str] | None = None
            d = record.__dict__
            if len(d) != _FRESH_LEN:
                for k, v in d.items():
                    if k not in _STANDARD:
                        if extras is None:
                            extras = {}
                        sv = extras[k] = v if isinstance(v, str) else str(v)
                        cost += len(k) + len(sv) + 8
            if not payload:
                payload = "(empty)"
            elif len(payload) > MAX_PAYLOAD_BYTES // 4:
                payload = cut_bytes(payload, MAX_PAYLOAD_BYTES)
            cost += ENTRY_OVERHEAD + self._source_len + (len(payload) if payload.isascii() else utf8_len(payload))
            levelno = record.levelno
            level = _LEVELS[levelno] if 0 <= levelno <= 60 else (8 if levelno < 0 else 3)
            self._put(payload, level, _LOG, self._source, record.created, None,
                      (name, record.module, record.funcName, record.lineno, record.threadName,
                       record.processName, exc, stack, extras), cost)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
        finally:
            del busy[me]

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
