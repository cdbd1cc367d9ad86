"""The Agent API on the wire: addresses and discovery, the JSON the SDK
writes (entries, batches, control messages), reading the agent's answer
lines, and one connection with its authentication."""

from __future__ import annotations

import json
import operator
import os
import re
import select
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _escape_ascii
from typing import Any, Optional, Union, cast

from ._errors import AgentError, ConfigError, EntryProblem

ENV_AGENT_ADDR = "LOGFLUX_AGENT_ADDR"
ENV_SHARED_SECRET = "LOGFLUX_SHARED_SECRET"

# The Unix sockets tried, in order, when neither the options nor the
# environment name an address (as the Go SDK).
DEFAULT_SOCKETS = ("/tmp/logflux-agent.sock", "/var/run/logflux-agent/agent.sock")

# Fixed parts of the lines the SDK writes. A batch is followed by a ping:
# the agent answers nothing to a good batch and one error to a bad one, so
# an error that arrives before the batch's pong is that batch's.
BATCH_PREFIX = b'{"version":"1.0","entries":['
BATCH_SUFFIX = b']}\n{"version":"1.0","action":"ping"}\n'
FLUSH_LINE = b'{"version":"1.0","action":"flush"}\n'
PING_LINE = b'{"version":"1.0","action":"ping"}\n'
MAX_LINE_BYTES = 15 << 20  # well under the agent's default 16 MiB line
MAX_ANSWER_BYTES = 1 << 20

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Endpoint:
    """One address the agent may listen on."""

    network: str  # "unix" or "tcp"
    address: str  # socket path, or host:port

    def __str__(self) -> str:
        return f"{self.network}://{self.address}"

    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        return host.strip("[]"), int(port)


def parse_address(s: str) -> Endpoint:
    """Reads ``unix:///path`` or ``tcp://host:port``."""
    if s.startswith("unix://"):
        path = s[len("unix://"):]
        if not path.startswith("/"):
            raise ConfigError(f"address {s!r}: a unix address needs an absolute path (unix:///path)")
        return Endpoint("unix", path)
    if s.startswith("tcp://"):
        hp = s[len("tcp://"):]
        host, sep, port = hp.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"address {s!r}: want tcp://host:port")
        return Endpoint("tcp", hp)
    raise ConfigError(f"address {s!r}: want unix:///path or tcp://host:port")


def discover(address: str | None, environ: Mapping[str, str]) -> list[Endpoint]:
    """The endpoints to try, in order: the given address, else
    LOGFLUX_AGENT_ADDR, else the default sockets."""
    if address:
        return [parse_address(address)]
    env = environ.get(ENV_AGENT_ADDR, "")
    if env:
        try:
            return [parse_address(env)]
        except ConfigError as e:
            raise ConfigError(f"{ENV_AGENT_ADDR}: {e}") from None
    return [Endpoint("unix", p) for p in DEFAULT_SOCKETS]


def json_string(s: str) -> str:
    """s as a JSON string of ASCII. Surrogates that are not part of a pair
    (the agent refuses them as invalid JSON) become U+FFFD."""
    r = _escape_ascii(s)
    if "\\ud" in r:
        r = _escape_ascii(_SURROGATE.sub("\ufffd", s))
    return r


# The fraction of a second for a count of microseconds, as RFC 3339 writes
# it with trailing zeros dropped (Go's RFC3339Nano): milliseconds from one
# table, the last three digits from another, with no arithmetic on large
# numbers (dividing a timestamp in microseconds was the encoder's costliest
# step).
_MS_FULL = tuple(".%03d" % ms for ms in range(1000))
_MS_BARE = tuple((".%03d" % ms).rstrip("0").rstrip(".") for ms in range(1000))
_US_BARE = tuple(("%03d" % us).rstrip("0") for us in range(1000))


class _TimeCache:
    """Formats RFC 3339 UTC timestamps; the date and time of day are
    formatted once per second. Safe for several threads: ``last`` (the
    second as a float, its quoted text up to the seconds) is replaced as
    one tuple."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: tuple[float, str] = (-2.0, "")

    def second(self, t: float) -> tuple[float, str]:
        """The second t falls in (after rounding to microseconds) and its
        text, remembered for the next calls."""
        sec = round(t * 1_000_000) // 1_000_000
        last = self.last = (float(sec), time.strftime('"%Y-%m-%dT%H:%M:%S', time.gmtime(sec)))
        return last

    def format(self, t: float) -> str:
        base, date = self.last
        f = t - base
        if not (0.0 <= f and (us := int(f * 1e6 + 0.5)) < 1_000_000):
            base, date = self.second(t)
            us = int((t - base) * 1e6 + 0.5)
        ms, us = divmod(us, 1000)
        return date + (_MS_FULL[ms] + _US_BARE[us] if us else _MS_BARE[ms]) + 'Z"'


_times = _TimeCache()


def format_timestamp(t: float) -> str:
    """t (seconds since the epoch) as a quoted RFC 3339 UTC time."""
    return _times.format(t)


# Metadata as the Handler queues it: the record's fields, taken on the
# calling thread without building a dict, turned into metadata here on the
# sender thread: (logger name, module, funcName, lineno, threadName,
# processName, formatted exception or None, stack_info or None, the extra
# keys with str() values or None).
RecordMeta = tuple[str, str, Optional[str], object, Optional[str], Optional[str], Optional[str], Optional[str],
                   Optional[dict[str, str]]]
# Client.log queues its metadata already encoded (the text of meta_json).
Metadata = Union[str, Mapping[str, str], RecordMeta, None]

# A queued entry: (seq, cost, payload, level, entry type, source,
# timestamp, payload type, metadata); tuples are the cheapest thing to build
# on the caller's thread.
QueueItem = tuple[int, int, str, int, int, str, float, Optional[str], Metadata]

MAX_META_VALUE_CHARS = 1024
_INTS = tuple(str(i) for i in range(10))

# Escaped forms of the strings that come back entry after entry (sources,
# payload types, and the logger, module, function, line, thread and process
# of records), cut to the agent's 1024 characters first.
_MEMO_MAX = 4096
_values: dict[str, str] = {}


def _value(s: str) -> str:
    r = _values.get(s)
    if r is None:
        if len(_values) >= _MEMO_MAX:
            _values.clear()
        r = _values[s] = _escape_ascii(s if len(s) <= MAX_META_VALUE_CHARS else s[:MAX_META_VALUE_CHARS - 1] + "…")
    return r


def _cut(s: str) -> str:
    return s if len(s) <= MAX_META_VALUE_CHARS else s[:MAX_META_VALUE_CHARS - 1] + "…"


def record_metadata(m: RecordMeta) -> dict[str, str]:
    """The metadata of a Handler's record fields (an extra key wins over
    the record's own), values cut to 1024 characters."""
    name, module, func, line, thread, process, exc, stack, extras = m
    out = {"logger": _cut(str(name)), "module": _cut(str(module)), "function": _cut(str(func or "")),
           "line": _cut(str(line)), "thread": _cut(str(thread or "")), "process": _cut(str(process or ""))}
    if exc:
        out["exception"] = _cut(str(exc))
    if stack:
        out["stack"] = _cut(str(stack))
    if extras:
        for k, v in extras.items():
            out[str(k)] = _cut(str(v))
    return out


# Metadata fragments of records, by (logger, module, function, line,
# thread, process): a call site logs the same six values every time. Each is
# (the keys function to process, the thread key and the end of the entry):
# "exception" sorts before them and "stack" between the two.
_RecordKey = tuple[str, str, Optional[str], object, Optional[str], Optional[str]]
_record_frags: dict[_RecordKey, tuple[str, str]] = {}


def _record_frag(key: _RecordKey) -> tuple[str, str]:
    name, module, func, line, thread, process = key
    r = (f'"function":{_value(str(func or ""))},"line":{_value(str(line))},"logger":{_value(str(name))},'
         f'"module":{_value(str(module))},"process":{_value(str(process or ""))}',
         f',"thread":{_value(str(thread or ""))}}}}}')
    if len(_record_frags) >= _MEMO_MAX:
        _record_frags.clear()
    _record_frags[key] = r
    return r


# How to encode a metadata dict, by its keys in their order: a function
# that takes the values in sorted key order, and the %-template of the
# metadata object with the keys already escaped. A program logs the same few
# sets of keys again and again, so a dict is encoded with a few calls into C
# and no step per key.
_MetaPlan = tuple[Callable[[Mapping[str, object]], Any], str, bool, int]
_meta_plans: dict[tuple[object, ...], _MetaPlan] = {}


def _meta_plan(keys: tuple[object, ...]) -> _MetaPlan:
    """(values getter, template, one key?, the template's length without
    its %s) for these keys; TypeError if they are not all strings."""
    if not all(type(k) is str for k in keys):
        raise TypeError("metadata keys are not all strings")
    order = sorted(cast(tuple[str, ...], keys))
    template = ',"metadata":{' + ",".join(_escape_ascii(k).replace("%", "%%") + ":%s" for k in order) + "}}"
    r = (operator.itemgetter(*order), template, len(order) == 1, len(template % (("",) * len(order))))
    if len(_meta_plans) >= _MEMO_MAX:
        _meta_plans.clear()
    _meta_plans[keys] = r
    return r


def meta_json(metadata: Mapping[str, object]) -> str:
    """Non-empty metadata as the end of an entry, ``,"metadata":{...}}``:
    keys sorted, values through str() and cut to the agent's 1024
    characters. The text may hold escapes of lone surrogates; the encoder
    replaces them (see encode_entry)."""
    try:
        keys = tuple(metadata)
        getter, template, single, fixed = _meta_plans.get(keys) or _meta_plan(keys)
        vals = getter(metadata)
        text: str = template % _escape_ascii(vals) if single else template % tuple(map(_escape_ascii, vals))
        # An escaped value is its text and two quotes at least: when they
        # all come to 1026 characters or less, none is over the limit.
        if len(text) - fixed <= MAX_META_VALUE_CHARS + 2 or max(map(len, (vals,) if single else vals)) <= MAX_META_VALUE_CHARS:
            return text
    except TypeError:  # keys or values that are not strings
        pass
    clean = {k if type(k) is str else str(k): _cut(v if type(v) is str else str(v)) for k, v in metadata.items()}
    getter, template, single, _ = _meta_plans.get(keys := tuple(clean)) or _meta_plan(keys)
    vals = getter(clean)
    return template % _escape_ascii(vals) if single else template % tuple(map(_escape_ascii, vals))


def _parse_meta_json(text: str) -> dict[str, str]:
    """The metadata dict of meta_json's text."""
    return cast(dict[str, str], json.loads(text[len(',"metadata":'):-1]))


def _encode(items: Iterable[QueueItem]) -> list[str]:
    """The entries of queue items ``(seq, cost, payload, level, entry type,
    source, timestamp, payload type, metadata)``, without the check for lone
    surrogates. One loop with everything inline, and no step per metadata
    key or on large numbers: this is the sender's hot path."""
    esc, values, frags, ints, times = _escape_ascii, _values, _record_frags, _INTS, _times
    ms_full, ms_bare, us_bare = _MS_FULL, _MS_BARE, _US_BARE
    base, date = times.last
    out: list[str] = []
    for _, _, payload, level, entry_type, source, ts, payload_type, meta in items:
        f = ts - base
        if not (0.0 <= f and (us := int(f * 1e6 + 0.5)) < 1_000_000):
            base, date = times.second(ts)
            us = int((ts - base) * 1e6 + 0.5)
        ms, us = divmod(us, 1000)
        s = (f'{{"payload":{esc(payload)},"entryType":{ints[entry_type]},'
             f'"source":{values.get(source) or _value(source)},"logLevel":{ints[level]},'
             f'"timestamp":{date}{ms_full[ms] + us_bare[us] if us else ms_bare[ms]}Z"')
        if payload_type is not None:
            s += ',"payloadType":' + (values.get(payload_type) or _value(payload_type))
        if not meta:
            out.append(s + "}")
            continue
        if type(meta) is tuple:
            name, module, func, line, thread, process, exc, stack, extras = meta
            if extras is None:
                # The record's own keys, in sorted order.
                key = (name, module, func, line, thread, process)
                mid, tail = frags.get(key) or _record_frag(key)
                if exc:
                    s += ',"metadata":{"exception":' + esc(_cut(exc)) + "," + mid
                else:
                    s += ',"metadata":{' + mid
                if stack:
                    s += ',"stack":' + esc(_cut(stack))
                out.append(s + tail)
                continue
            out.append(s + meta_json(record_metadata(meta)))
            continue
        if type(meta) is str:
            out.append(s + meta)  # the text of meta_json
            continue
        out.append(s + meta_json(cast(Mapping[str, str], meta)))
    return out


# A \\udXXXX escape that is not half of a pair: a lone surrogate in the
# text, which the agent refuses.
_LONE_ESCAPE = re.compile(r"\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}")


def _clean(s: str) -> bool:
    return "\\ud" not in s or not _LONE_ESCAPE.search(s)


def encode_entry(payload: str, level: int, entry_type: int, source: str, timestamp: float,
                 payload_type: str | None, metadata: Metadata) -> str:
    """The Agent API's LogEntry object, without a version (optional in a
    batch, and "1.0" when absent), metadata keys sorted. The fields must
    have passed check(). Lone surrogates become U+FFFD."""
    if type(metadata) is tuple:
        metadata = record_metadata(metadata)
    elif type(metadata) is str:
        metadata = _parse_meta_json(metadata)
    try:
        s = _encode([(0, 0, payload, level, entry_type, source, timestamp, payload_type, metadata)])[0]
        if _clean(s):
            return s
    except (TypeError, ValueError, IndexError):  # not what check() lets through
        pass
    parts = [
        '{"payload":', json_string(str(payload)),
        ',"entryType":', str(int(entry_type)),
        ',"source":', json_string(str(source)),
        ',"logLevel":', str(int(level)),
        ',"timestamp":', format_timestamp(timestamp),
    ]
    if payload_type is not None:
        parts += (',"payloadType":', json_string(str(payload_type)))
    if metadata:
        mapping = cast(Mapping[str, str], metadata)
        sep = ',"metadata":{'
        for k in sorted(mapping, key=str):
            parts += (sep, json_string(str(k)), ":", json_string(str(mapping[k])))
            sep = ","
        parts.append("}")
    parts.append("}")
    return "".join(parts)


def batch_line(items: Sequence[QueueItem]) -> bytes:
    """The batch line of queue items (see _encode), followed by its ping.
    The entries are encoded in one pass with one search for lone
    surrogates over the whole line (entry by entry only when there is one)."""
    try:
        s = ",".join(_encode(items))
        if _clean(s):
            return BATCH_PREFIX + s.encode("ascii") + BATCH_SUFFIX
    except (TypeError, ValueError, IndexError):
        pass
    s = ",".join([encode_entry(*it[2:]) for it in items])
    return BATCH_PREFIX + s.encode("ascii") + BATCH_SUFFIX


def authenticate_line(secret: str) -> bytes:
    return ('{"version":"1.0","action":"authenticate","shared_secret":' + json_string(secret) + "}\n").encode()


@dataclass(frozen=True)
class Answer:
    """One answer line of the agent."""

    status: str
    action: str = ""
    code: str = ""
    message: str = ""
    accepted: int = 0
    rejected: int = 0
    errors: tuple[EntryProblem, ...] = ()
    raw: Mapping[str, object] | None = None

    def error(self) -> AgentError:
        return AgentError.from_answer(self.code, self.message, self.errors)


PONG = Answer("pong")


def parse_answer(line: bytes) -> Answer:
    """Reads one answer line (without or with its newline)."""
    line = line.rstrip(b"\r\n")
    if line == b'{"status":"pong"}':
        return PONG
    try:
        obj = json.loads(line)
    except ValueError as e:
        raise AgentError("unreadable_answer", f"unreadable answer from the agent: {e}") from None
    if not isinstance(obj, dict):
        raise AgentError("unreadable_answer", f"answer is not an object: {line[:200]!r}")

    def s(key: str) -> str:
        v = obj.get(key)
        return v if isinstance(v, str) else ""

    def n(key: str) -> int:
        v = obj.get(key)
        return v if isinstance(v, int) else 0

    problems = []
    errs = obj.get("errors")
    if isinstance(errs, list):
        for x in errs:
            if isinstance(x, dict):
                idx = x.get("index")
                problems.append(EntryProblem(idx if isinstance(idx, int) else -1,
                                             str(x.get("field", "")), str(x.get("message", ""))))
    return Answer(s("status"), s("action"), s("code"), s("message"), n("accepted"), n("rejected"),
                  tuple(problems), obj)


class Connection:
    """One connection to the agent: writes lines, reads answer lines."""

    def __init__(self, sock: socket.socket, endpoint: Endpoint) -> None:
        self.sock = sock
        self.endpoint = endpoint
        self._buf = bytearray()

    @classmethod
    def open(cls, endpoint: Endpoint, timeout: float) -> Connection:
        """Connects, without authenticating."""
        if endpoint.network == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: str | tuple[str, int] = endpoint.address
        else:
            host, port = endpoint.host_port()
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            target = (host, port)
        try:
            sock.settimeout(timeout)
            sock.connect(target)
            if endpoint.network == "tcp":
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        return cls(sock, endpoint)

    @classmethod
    def dial(cls, endpoints: list[Endpoint], secret: str, timeout: float) -> Connection:
        """Connects to the first endpoint that answers and, on TCP,
        authenticates. Raises OSError, or AgentError when refused."""
        errors: list[str] = []
        for ep in endpoints:
            try:
                conn = cls.open(ep, timeout)
            except OSError as e:
                errors.append(f"{ep}: {e.strerror or e}")
                continue
            if ep.network == "tcp":
                try:
                    conn.authenticate(secret, timeout)
                except BaseException:
                    conn.close()
                    raise
            return conn
        raise ConnectionError("cannot connect to the agent: " + "; ".join(errors))

    def authenticate(self, secret: str, timeout: float) -> None:
        """Sends the shared secret and checks the agent's verdict."""
        self.send(authenticate_line(secret), timeout)
        line = self.read_line(timeout)
        ans = parse_answer(line)
        if ans.status == "success":
            return
        if ans.status == "error":
            raise ans.error()
        raise AgentError("unexpected_answer", f"to authenticate: {line.strip()!r}")

    def send(self, data: bytes, timeout: float) -> None:
        self.sock.settimeout(timeout)
        self.sock.sendall(data)

    def _take_line(self) -> bytes | None:
        i = self._buf.find(b"\n")
        if i < 0:
            if len(self._buf) > MAX_ANSWER_BYTES:
                raise AgentError("unreadable_answer", f"agent answer longer than {MAX_ANSWER_BYTES} bytes")
            return None
        line = bytes(self._buf[: i + 1])
        del self._buf[: i + 1]
        return line

    def _recv(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionResetError("the agent closed the connection")
        self._buf += data

    def read_line(self, timeout: float) -> bytes:
        """The next non-empty answer line; raises ConnectionError on end of
        file and TimeoutError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._take_line()
            if line is not None:
                if line.strip():
                    return line
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the agent")
            self.sock.settimeout(left)
            self._recv()

    def ready_lines(self) -> list[bytes]:
        """The answer lines that can be read without waiting."""
        lines: list[bytes] = []
        while True:
            r, _, _ = select.select([self.sock], [], [], 0)
            if not r:
                break
            self._recv()
            if len(self._buf) < 65536:
                break
        while (line := self._take_line()) is not None:
            if line.strip():
                lines.append(line)
        return lines

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def detach_after_fork(self) -> None:
        """Closes the inherited descriptor in a forked child without
        touching the parent's connection (no shutdown, nothing written)."""
        self.close()


def wait_readable(fds: list[int], timeout: float | None) -> list[int]:
    """The descriptors of fds that are readable within timeout."""
    try:
        r, _, _ = select.select(fds, [], [], timeout)
    except InterruptedError:
        return []
    return r


def make_wake_pipe() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w
