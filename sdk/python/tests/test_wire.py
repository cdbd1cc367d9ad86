"""Unit tests of the wire code and options, with no agent."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

import logflux
from logflux._wire import (
    DEFAULT_SOCKETS,
    Endpoint,
    batch_line,
    discover,
    encode_entry,
    json_string,
    parse_address,
    parse_answer,
)


def test_discovery_order() -> None:
    env = {"LOGFLUX_AGENT_ADDR": "tcp://127.0.0.1:9999"}
    assert discover("unix:///run/a.sock", env) == [Endpoint("unix", "/run/a.sock")]
    assert discover(None, env) == [Endpoint("tcp", "127.0.0.1:9999")]
    assert discover(None, {}) == [Endpoint("unix", p) for p in DEFAULT_SOCKETS]
    assert DEFAULT_SOCKETS == ("/tmp/logflux-agent.sock", "/var/run/logflux-agent/agent.sock")
    with pytest.raises(logflux.ConfigError, match="LOGFLUX_AGENT_ADDR"):
        discover(None, {"LOGFLUX_AGENT_ADDR": "localhost:9999"})


@pytest.mark.parametrize("bad", ["unix://relative.sock", "tcp://nohost", "tcp://h:0", "http://x:1", ""])
def test_bad_addresses(bad: str) -> None:
    with pytest.raises(logflux.ConfigError):
        parse_address(bad)


def test_options_report_every_problem_at_once() -> None:
    with pytest.raises(logflux.ConfigError) as e:
        logflux.Client(address="tcp://127.0.0.1:1", max_queue_bytes=10, batch_size=101, flush_interval=0)
    msg = str(e.value)
    for part in ("shared secret", "max_queue_bytes", "batch_size", "flush_interval"):
        assert part in msg


def test_encoding_is_the_agents_json() -> None:
    meta = {"b": "2", "a": 'quote " and \\ and \n', "ünï": "cødé 😀"}
    line = encode_entry("héllo\u2028\x00", 5, 1, "svc", 1756636200.25, "generic", meta)
    assert line.isascii()
    assert json.loads(line) == {"payload": "héllo\u2028\x00", "entryType": 1, "source": "svc", "logLevel": 5,
                                "timestamp": "2025-08-31T10:30:00.25Z", "payloadType": "generic", "metadata": meta}
    assert list(json.loads(line)["metadata"]) == sorted(meta)  # sorted keys: reproducible bytes


def test_lone_surrogates_become_replacement_characters() -> None:
    # The agent refuses a lone surrogate escape as invalid_json.
    assert json.loads(json_string("a\udc80b")) == "a\ufffdb"
    assert json.loads(json_string("😀")) == "😀"


def test_answers() -> None:
    assert parse_answer(b'{"status":"pong"}\n').status == "pong"
    a = parse_answer(b'{"status":"error","code":"invalid_entry","message":"m","errors":[{"index":3,"field":"logLevel","message":"x"}]}')
    err = a.error()
    assert isinstance(err, logflux.AgentError) and not isinstance(err, logflux.AuthFailedError)
    assert err.errors[0] == logflux.EntryProblem(3, "logLevel", "x")
    assert isinstance(parse_answer(b'{"status":"error","code":"auth_failed","message":"no"}').error(),
                      logflux.AuthFailedError)
    f = parse_answer(b'{"status":"success","action":"flush","accepted":3,"rejected":2}')
    assert (f.action, f.accepted, f.rejected) == ("flush", 3, 2)


def test_level_mapping() -> None:
    assert [logflux.agent_level(n) for n in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR,
                                             logging.CRITICAL)] == [8, 7, 5, 4, 3]
    assert [logflux.agent_level(n) for n in (0, 5, 14, 16, 25, 44, 46, 70, -3)] == [8, 8, 8, 7, 5, 4, 3, 3, 8]


def test_helpers() -> None:
    m = logflux.metric("q", float("nan"))
    assert json.loads(m.payload) == {"name": "q", "value": "nan"} and m.entry_type == logflux.EntryType.METRIC
    a = logflux.audit("delete", "ana", "doc/1")
    assert a.level == logflux.NOTICE and json.loads(a.payload)["outcome"] == "success"
    t = logflux.trace("t1", "s1", "GET /", 10.0, 10.5)
    assert json.loads(t.payload)["duration_ms"] == 500.0 and t.entry_type == logflux.EntryType.TRACE
    assert logflux.event("deployed").entry_type == logflux.EntryType.EVENT


def test_metadata_values_are_cut_to_the_agents_limit() -> None:
    meta = logflux._entry.meta_dict({"k": "v" * 5000, 3: 4})  # type: ignore[dict-item]
    assert meta is not None and len(meta["k"]) == 1024 and meta["k"].endswith("…") and meta["3"] == "4"


def _item(payload: str, meta: Any) -> Any:
    return (1, 100, payload, 7, 1, "svc", 1756636200.5, None, meta)


def test_a_batch_of_handler_records_is_the_same_json_as_entry_by_entry() -> None:
    plain = ("app.db", "db", "query", 42, "MainThread", "MainProcess", None, None, None)
    full = ("app.db", "db", None, 7, None, None, "Traceback…", "Stack…", {"logger": "mine", "order": "42"})
    items = [_item("first", plain), _item("second", full), _item("third", {"k": "v"}), _item("fourth", None)]
    line = batch_line(items)
    first, ping = line.decode("ascii").splitlines()
    assert json.loads(ping) == {"version": "1.0", "action": "ping"}
    entries = json.loads(first)["entries"]
    assert entries == [json.loads(encode_entry(*it[2:])) for it in items]
    assert entries[0]["metadata"] == {"logger": "app.db", "module": "db", "function": "query", "line": "42",
                                      "thread": "MainThread", "process": "MainProcess"}
    # an extra key wins over the record's own; missing names are empty
    assert entries[1]["metadata"] == {"logger": "mine", "module": "db", "function": "", "line": "7", "thread": "",
                                      "process": "", "exception": "Traceback…", "stack": "Stack…", "order": "42"}
    assert entries[1]["timestamp"] == "2025-08-31T10:30:00.5Z"


def test_a_lone_surrogate_in_a_batch_is_replaced_and_the_rest_kept() -> None:
    meta = ("n", "m", "f", 1, "t\udc80", "p", None, None, None)
    items = [_item("ok 😀", None), _item("bad \udc80", meta), _item("\\ud800 is text", None)]
    entries = json.loads(batch_line(items).splitlines()[0])["entries"]
    assert [e["payload"] for e in entries] == ["ok 😀", "bad \ufffd", "\\ud800 is text"]
    assert entries[1]["metadata"]["thread"] == "t\ufffd"


def test_record_fields_that_are_not_strings_are_converted() -> None:
    odd = ("n", 5, "f", "12", 3.5, "p", None, None, None)  # a record factory that sets odd types
    entries = json.loads(batch_line([_item("x", odd)]).splitlines()[0])["entries"]
    assert entries[0]["metadata"]["module"] == "5" and entries[0]["metadata"]["thread"] == "3.5"


def test_metadata_values_are_cut_to_1024_characters() -> None:
    long = "x" * 2000
    meta = (long, "m", "f", 1, "t", "p", long, None, None)
    md = json.loads(batch_line([_item("x", meta)]).splitlines()[0])["entries"][0]["metadata"]
    assert md["logger"] == "x" * 1023 + "…" and md["exception"] == "x" * 1023 + "…"


def test_client_metadata_encoded_at_the_call_is_the_agents_json() -> None:
    # Client.log queues its metadata as text (meta_json): keys sorted, a
    # "%" in a key kept, values through str() and cut, and a lone surrogate
    # replaced when the batch is encoded.
    from logflux._wire import meta_json

    odd = {"z": "last", "%s": "percent", 7: 8.5, "long": "y" * 2000, "bad": "x\udc80y"}
    text = meta_json(odd)  # type: ignore[arg-type]
    entries = json.loads(batch_line([_item("x", text), _item("y", meta_json({"k": "v"}))]).splitlines()[0])["entries"]
    md = entries[0]["metadata"]
    assert list(md) == sorted(md)
    assert md == {"z": "last", "%s": "percent", "7": "8.5", "long": "y" * 1023 + "…", "bad": "x\ufffdy"}
    assert entries[1]["metadata"] == {"k": "v"}
    assert json.loads(encode_entry("x", 7, 1, "svc", 1756636200.5, None, text))["metadata"] == md
