"""loguru integration: a sink object.

    from loguru import logger
    import logflux.loguru
    sink = logflux.loguru.Sink(source="billing")
    logger.add(sink)
    ...
    await logger.complete()   # in coroutines: waits for the agent's confirmation
    logger.remove()           # or at exit: stop() flushes

The message is the payload; ``extra``, the logger name, module, function,
line, thread and process names and the formatted exception become metadata.
loguru's SUCCESS level is NOTICE. This module does not import loguru."""

from __future__ import annotations

import traceback
from typing import Any

from ._client import Client
from ._entry import MAX_PAYLOAD_BYTES, EntryType, Level, cut_bytes, meta_dict
from ._handler import agent_level

_NAMES = {
    "TRACE": Level.DEBUG, "DEBUG": Level.DEBUG, "INFO": Level.INFO, "SUCCESS": Level.NOTICE,
    "WARNING": Level.WARNING, "ERROR": Level.ERROR, "CRITICAL": Level.CRITICAL,
}


class Sink:
    """A loguru sink. It has no ``flush`` method on purpose: loguru would
    call it after every message. ``complete()`` (awaited by
    ``logger.complete()``) waits for the agent's confirmation; ``stop()``
    (called by ``logger.remove()``) flushes, and closes a client the sink
    made itself."""

    def __init__(self, client: Client | None = None, **client_options: Any) -> None:
        self._owns = client is None
        self.client = client if client is not None else Client(**client_options)

    def write(self, message: Any) -> None:
        record = message.record
        lvl = record["level"]
        level = _NAMES.get(lvl.name) or agent_level(lvl.no)
        meta: dict[str, object] = {
            "logger": record["name"] or "",
            "module": record["module"],
            "function": record["function"],
            "line": record["line"],
            "thread": record["thread"].name,
            "process": record["process"].name,
        }
        exc = record["exception"]
        if exc is not None and exc.type is not None:
            meta["exception"] = "".join(traceback.format_exception(exc.type, exc.value, exc.traceback)).rstrip("\n")
        meta.update(record["extra"])
        text = record["message"] or "(empty)"
        if len(text) > MAX_PAYLOAD_BYTES // 4:
            text = cut_bytes(text, MAX_PAYLOAD_BYTES)
        self.client.log(text, level, entry_type=EntryType.LOG, timestamp=record["time"].timestamp(),
                        metadata=meta_dict(meta))

    def drain(self, timeout: float = 5.0) -> bool:
        """Waits for the agent's confirmation of everything logged so far."""
        return self.client.flush(timeout)

    async def complete(self) -> None:
        await self.client.aflush(self.client.exit_timeout)

    def stop(self) -> None:
        if self._owns:
            self.client.close()
        else:
            self.client.flush(self.client.exit_timeout)
