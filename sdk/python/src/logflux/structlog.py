"""structlog integration: a logger factory whose loggers queue structlog's
event dicts straight to the agent, with no detour through ``logging``.

    import structlog, logflux.structlog
    structlog.configure(
        processors=[structlog.processors.add_log_level, logflux.structlog.render],
        logger_factory=logflux.structlog.LoggerFactory(source="billing"),
    )

The ``event`` key is the payload; every other key becomes metadata (values
formatted with ``str``); ``exc_info`` becomes a formatted ``exception``.
structlog itself is imported only by structlog; this module needs nothing
of it at import time."""

from __future__ import annotations

import sys
import traceback
from collections.abc import MutableMapping
from typing import Any

from ._client import Client
from ._entry import MAX_PAYLOAD_BYTES, EntryType, Level, cut_bytes, meta_dict

_METHOD_LEVELS = {
    "debug": Level.DEBUG, "info": Level.INFO, "msg": Level.INFO, "notice": Level.NOTICE,
    "warning": Level.WARNING, "warn": Level.WARNING, "error": Level.ERROR,
    "exception": Level.ERROR, "critical": Level.CRITICAL, "fatal": Level.CRITICAL,
    "alert": Level.ALERT, "emergency": Level.EMERGENCY,
}


def render(logger: object, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The final processor: passes the event dict on as keyword arguments
    for ``LogfluxLogger``."""
    return event_dict


def _format_exc(exc_info: Any) -> str | None:
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and exc_info[0] is not None:
        return "".join(traceback.format_exception(*exc_info)).rstrip("\n")
    return None


class LogfluxLogger:
    """A structlog "wrapped logger" that queues each event to a Client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def _log(self, method: str, event_dict: dict[str, Any]) -> None:
        level = _METHOD_LEVELS.get(method, Level.INFO)
        named = event_dict.pop("level", None)
        if method in ("msg", "log") and isinstance(named, str):
            level = _METHOD_LEVELS.get(named.lower(), level)
        payload = event_dict.pop("event", None)
        text = "" if payload is None else payload if isinstance(payload, str) else str(payload)
        exc = event_dict.pop("exc_info", None)
        if method == "exception" and exc is None:
            exc = True
        formatted = _format_exc(exc) if exc else None
        if formatted and "exception" not in event_dict:
            event_dict["exception"] = formatted
        if not text:
            text = "(empty)"
        elif len(text) > MAX_PAYLOAD_BYTES // 4:
            text = cut_bytes(text, MAX_PAYLOAD_BYTES)
        self.client.log(text, level, entry_type=EntryType.LOG, metadata=meta_dict(event_dict))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def method(*args: Any, **event_dict: Any) -> None:
            if args and "event" not in event_dict:
                event_dict["event"] = args[0]
            self._log(name, event_dict)

        return method


class LoggerFactory:
    """``structlog.configure(logger_factory=LoggerFactory(...))``: with no
    client, one is made from ``client_options`` (the arguments of
    ``Client``) and shared by every logger; it is closed at exit."""

    def __init__(self, client: Client | None = None, **client_options: Any) -> None:
        self.client = client if client is not None else Client(**client_options)

    def __call__(self, *args: Any) -> LogfluxLogger:
        return LogfluxLogger(self.client)
