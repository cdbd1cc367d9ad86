"""Entries of the Agent API: levels, entry types, the Entry record, the
helpers for metrics, traces, events and audit records, and the checks the
SDK applies before an entry is queued."""

from __future__ import annotations

import datetime as _dt
import enum
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

# Limits of the Agent API (docs/protocol.md) that the SDK checks before
# queueing, so that an entry is refused at the call rather than by the agent.
MAX_PAYLOAD_BYTES = 1 << 20
MAX_SOURCE_CHARS = 256
MAX_META_VALUE_CHARS = 1024
MAX_BATCH_ENTRIES = 100

_PAYLOAD_TYPE = re.compile(r"[A-Za-z0-9_.\-]{1,64}\Z")


class Level(enum.IntEnum):
    """An entry's severity: syslog severity plus one (1 most severe)."""

    EMERGENCY = 1
    ALERT = 2
    CRITICAL = 3
    ERROR = 4
    WARNING = 5
    NOTICE = 6
    INFO = 7
    DEBUG = 8


class EntryType(enum.IntEnum):
    """What kind of record an entry carries."""

    LOG = 1
    METRIC = 2
    TRACE = 3
    EVENT = 4
    AUDIT = 5


EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG = (
    Level.EMERGENCY,
    Level.ALERT,
    Level.CRITICAL,
    Level.ERROR,
    Level.WARNING,
    Level.NOTICE,
    Level.INFO,
    Level.DEBUG,
)

PAYLOAD_GENERIC = "generic"
PAYLOAD_GENERIC_JSON = "generic_json"

@dataclass(frozen=True)
class Entry:
    """One record for the agent, with the Agent API's LogEntry fields.

    ``source=None`` takes the client's source; ``timestamp=None`` the time
    of the log call (a float is seconds since the epoch; a naive datetime is
    local time); ``payload_type=None`` is left out (the agent reads
    "generic"). Metadata values are converted with ``str`` and cut to 1024
    characters (ending in "…").
    """

    payload: str
    level: int = Level.INFO
    entry_type: int = EntryType.LOG
    source: str | None = None
    timestamp: float | _dt.datetime | None = None
    payload_type: str | None = None
    metadata: Mapping[str, object] | None = field(default=None)


def _json_number(value: float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return json.dumps(repr(value))
    return repr(float(value))


def _meta(kv: Mapping[str, object] | None) -> Mapping[str, object] | None:
    return dict(kv) if kv else None


def metric(name: str, value: float, metadata: Mapping[str, object] | None = None) -> Entry:
    """A metric entry (METRIC, INFO) whose payload is the JSON object
    ``{"name": name, "value": value}``; a value that is not finite is sent as
    a JSON string."""
    payload = '{"name":' + json.dumps(name) + ',"value":' + _json_number(value) + "}"
    return Entry(payload, Level.INFO, EntryType.METRIC, timestamp=time.time(),
                 payload_type=PAYLOAD_GENERIC_JSON, metadata=_meta(metadata))


def _utc(t: float | _dt.datetime) -> _dt.datetime:
    if isinstance(t, _dt.datetime):
        return t.astimezone(_dt.timezone.utc)
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc)


def trace(trace_id: str, span_id: str, name: str, start: float | _dt.datetime,
          end: float | _dt.datetime, metadata: Mapping[str, object] | None = None) -> Entry:
    """A trace entry (TRACE, INFO) for one finished span, timestamped at its
    start; the payload holds trace_id, span_id, name, start_time and end_time
    (RFC 3339, UTC) and duration_ms."""
    s, e = _utc(start), _utc(end)
    payload = json.dumps({
        "trace_id": trace_id, "span_id": span_id, "name": name,
        "start_time": s.isoformat().replace("+00:00", "Z"),
        "end_time": e.isoformat().replace("+00:00", "Z"),
        "duration_ms": (e - s) / _dt.timedelta(milliseconds=1),
    }, separators=(",", ":"))
    return Entry(payload, Level.INFO, EntryType.TRACE, timestamp=s,
                 payload_type=PAYLOAD_GENERIC_JSON, metadata=_meta(metadata))


def event(name: str, metadata: Mapping[str, object] | None = None) -> Entry:
    """An event entry (EVENT, INFO) whose payload is ``{"event": name}``."""
    return Entry('{"event":' + json.dumps(name) + "}", Level.INFO, EntryType.EVENT,
                 timestamp=time.time(), payload_type=PAYLOAD_GENERIC_JSON, metadata=_meta(metadata))


def audit(action: str, actor: str, resource: str,
          metadata: Mapping[str, object] | None = None) -> Entry:
    """An audit entry (AUDIT, NOTICE): actor did action on resource, with
    outcome "success"."""
    payload = json.dumps({"action": action, "actor": actor, "resource": resource,
                          "outcome": "success"}, separators=(",", ":"))
    return Entry(payload, Level.NOTICE, EntryType.AUDIT, timestamp=time.time(),
                 payload_type=PAYLOAD_GENERIC_JSON, metadata=_meta(metadata))


def cut_chars(s: str, n: int) -> str:
    """s if it has at most n characters, else its first n-1 and "…"."""
    return s if len(s) <= n else s[: n - 1] + "…"


def cut_bytes(s: str, n: int) -> str:
    """The longest prefix of s that is at most n bytes of UTF-8."""
    if len(s) <= n // 4:
        return s
    b = s.encode("utf-8", "surrogatepass")
    if len(b) <= n:
        return s
    return b[:n].decode("utf-8", "ignore")


def utf8_len(s: str) -> int:
    """Bytes of s in UTF-8 (a lone surrogate counts as the 3 of U+FFFD)."""
    if s.isascii():
        return len(s)
    return len(s.encode("utf-8", "surrogatepass"))


def to_epoch(t: float | _dt.datetime | None) -> float:
    """Seconds since the epoch for an entry's timestamp (None: now)."""
    if t is None:
        return time.time()
    if isinstance(t, _dt.datetime):
        return t.timestamp()
    return float(t)


def meta_dict(metadata: Mapping[str, object] | None) -> dict[str, str] | None:
    """Metadata with string keys and values, each value cut to the agent's
    1024 characters."""
    if not metadata:
        return None
    out: dict[str, str] = {}
    for k, v in metadata.items():
        sv = v if type(v) is str else str(v)
        out[k if type(k) is str else str(k)] = (
            sv if len(sv) <= MAX_META_VALUE_CHARS else sv[: MAX_META_VALUE_CHARS - 1] + "…")
    return out


# Exact types of a level or entry type that Client.log takes without
# calling check().
INT_TYPES = frozenset({int, Level, EntryType})
QUICK_PAYLOAD_CHARS = MAX_PAYLOAD_BYTES // 4  # at most 4 bytes a character


def check(payload: object, level: object, entry_type: object, source: object,
          payload_type: object) -> str | None:
    """Why the agent would refuse an entry with these fields, or None.
    (Client.log passes the common entry in one expression without calling
    this.)"""
    if not isinstance(payload, str):
        return "payload is not a string"
    if not payload:
        return "payload is empty"
    if utf8_len(payload) > MAX_PAYLOAD_BYTES:
        return "payload is more than 1 MiB"
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 8:
        return f"level {level!r} is not 1 to 8"
    if isinstance(entry_type, bool) or not isinstance(entry_type, int) or not 1 <= entry_type <= 5:
        return f"entry type {entry_type!r} is not 1 to 5"
    if not isinstance(source, str) or not source or len(source) > MAX_SOURCE_CHARS:
        return "source must be 1 to 256 characters"
    if payload_type is not None and not (isinstance(payload_type, str) and _PAYLOAD_TYPE.match(payload_type)):
        return f"payload type {payload_type!r} is not 1-64 letters, digits, '_', '-' or '.'"
    return None
