#!/usr/bin/env python3
"""Writes the conformance vectors in cases/ (run from anywhere; see README.md)."""
import base64, json, os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "cases")

def line(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

def entry(**kw):
    e = {"payload": "hello", "entryType": 1, "source": "svc", "logLevel": 7}
    for k, v in kw.items():
        if v is DROP:
            e.pop(k, None)
        else:
            e[k] = v
    return e

DROP = object()
PING = {"send": '{"version":"1.0","action":"ping"}'}
PONG = {"expect": {"status": "pong"}}

def ok_out(**kw):
    """The normalised form of entry(**kw) with defaults."""
    o = {"id": "$uuid", "receivedAt": "$rfc3339utc", "version": "1.0", "timestamp": "$receivedAt",
         "entryType": 1, "logLevel": 7, "source": "svc", "payloadType": "generic", "payload": "hello",
         "metadata": "$absent"}
    o.update(kw)
    return o

def err(code, errors=None, **kw):
    r = {"status": "error", "code": code, "message": "$any"}
    if errors is not None:
        r["errors"] = errors
    r.update(kw)
    return r

def fe(field, index=None):
    d = {"field": field, "message": "$any"}
    if index is not None:
        d["index"] = index
    else:
        d["index"] = "$absent"
    return d

def case(name, description, steps, output=(), transport="any", agent=None):
    c = {"name": name, "description": description, "transport": transport, "steps": steps, "output": list(output)}
    if agent:
        c["agent"] = agent
    return c

def bad_entry(name, desc, e, field, raw=None):
    """A single entry refused with invalid_entry naming field; the connection stays usable."""
    send = {"send": raw if raw is not None else line(e)}
    return case(name, desc, [send, {"expect": err("invalid_entry", [fe(field)])}, PING, PONG,
                             {"send": line(entry())}, {"send": '{"action":"flush"}'},
                             {"expect": {"status": "success", "action": "flush", "accepted": 1, "rejected": 1}}],
                [ok_out()])

def good_entry(name, desc, e, out, raw=None):
    return case(name, desc, [{"send": raw if raw is not None else line(e)}, PING, PONG], [out])

files = {}

# ---------------------------------------------------------------- messages
files["messages"] = [
    case("ping", "A ping is answered with pong.", [PING, PONG]),
    case("ping-without-version", "version is optional on control messages.", [{"send": '{"action":"ping"}'}, PONG]),
    case("single-entry-full", "A valid entry with every field gets no answer and comes out normalised: timestamp in UTC, id and receivedAt added.",
         [{"send": line({"version": "1.0", "payload": "User login successful", "entryType": 1, "source": "auth-service", "logLevel": 6,
                         "timestamp": "2025-08-31T10:30:00Z", "payloadType": "generic",
                         "metadata": {"service": "authentication", "environment": "production"}})}, PING, PONG],
         [ok_out(payload="User login successful", source="auth-service", logLevel=6, timestamp="2025-08-31T10:30:00Z",
                 metadata={"service": "authentication", "environment": "production"})]),
    case("single-entry-minimal", "Only the required fields: version, payloadType and timestamp get their defaults (timestamp = time of receipt).",
         [{"send": line(entry())}, PING, PONG], [ok_out()]),
    case("batch", "A batch's entries come out in order; version is optional per entry.",
         [{"send": line({"version": "1.0", "entries": [
             {"payload": "Database connection established", "entryType": 1, "source": "database", "logLevel": 6},
             {"version": "1.0", "payload": "Query execution failed", "entryType": 1, "source": "database", "logLevel": 3, "metadata": {"error": "timeout"}}]})},
          PING, PONG],
         [ok_out(payload="Database connection established", source="database", logLevel=6),
          ok_out(payload="Query execution failed", source="database", logLevel=3, metadata={"error": "timeout"})]),
    case("batch-of-100", "A batch of exactly the maximum (100) is accepted whole.",
         [{"send": line({"entries": [entry(payload="e%d" % i) for i in range(100)]})}, PING, PONG],
         [ok_out(payload="e%d" % i) for i in range(100)]),
    case("batch-of-101", "A batch over the maximum is refused whole with batch_too_large.",
         [{"send": line({"entries": [entry(payload="e%d" % i) for i in range(101)]})}, {"expect": err("batch_too_large")},
          {"send": '{"action":"flush"}'}, {"expect": {"status": "success", "action": "flush", "accepted": 0, "rejected": 101}}]),
    case("batch-empty", "An empty batch is invalid_message.", [{"send": '{"version":"1.0","entries":[]}'}, {"expect": err("invalid_message")}]),
    case("batch-not-array", "entries must be an array.", [{"send": '{"entries":{"payload":"x"}}'}, {"expect": err("invalid_message")}]),
    case("batch-partial", "A batch with some invalid entries: the valid ones are accepted, one invalid_entry error lists every bad index with its field.",
         [{"send": line({"version": "1.0", "entries": [
             entry(payload="first"),
             entry(logLevel=9),
             entry(payload="third"),
             entry(source=DROP, entryType="1"),
             "not an object",
             entry(version="2.0"),
             entry(payload="last")]})},
          {"expect": err("invalid_entry", [fe("logLevel", 1), fe("entryType", 3), fe("source", 3), fe("entry", 4) | {"field": ""}, fe("version", 5)])},
          {"send": '{"action":"flush"}'}, {"expect": {"status": "success", "action": "flush", "accepted": 3, "rejected": 4}}],
         [ok_out(payload="first"), ok_out(payload="third"), ok_out(payload="last")]),
    case("authenticate-on-unix", "On the Unix socket, authenticate succeeds with nothing to check.",
         [{"send": '{"version":"1.0","action":"authenticate","shared_secret":"anything"}'},
          {"expect": {"status": "success", "message": "Authentication successful"}}], transport="unix"),
    case("unknown-action", "An unknown action is unknown_action and the connection stays usable.",
         [{"send": '{"version":"1.0","action":"reboot"}'}, {"expect": err("unknown_action")}, PING, PONG]),
    case("action-not-string", "action must be a string.", [{"send": '{"action":7}'}, {"expect": err("invalid_message")}, PING, PONG]),
    case("flush-counts", "flush answers the connection's counts: accepted entries, and rejected entries where an unreadable line counts as one; control messages count in neither.",
         [{"send": line(entry(payload="a"))}, {"send": "{oops"}, {"expect": err("invalid_json")},
          {"send": line({"entries": [entry(payload="b"), entry(logLevel=0), entry(payload="c")]})},
          {"expect": err("invalid_entry", [fe("logLevel", 1)])},
          PING, PONG, {"send": '{"action":"nope"}'}, {"expect": err("unknown_action")},
          {"send": '{"version":"1.0","action":"flush"}'},
          {"expect": {"status": "success", "action": "flush", "accepted": 3, "rejected": 2}}],
         [ok_out(payload="a"), ok_out(payload="b"), ok_out(payload="c")]),
    case("traffic-after-errors", "Valid traffic after errors on the same connection is still accepted.",
         [{"send": "garbage"}, {"expect": err("invalid_json")}, {"send": line(entry(logLevel="x"))},
          {"expect": err("invalid_entry", [fe("logLevel")])}, {"send": line(entry(payload="after"))}, PING, PONG],
         [ok_out(payload="after")]),
    case("empty-lines-ignored", "Empty and blank lines get no answer.", [{"send": ""}, {"send": "   "}, PING, PONG]),
    case("crlf-tolerated", "A trailing \\r before the newline is tolerated.",
         [{"send_raw": base64.b64encode((line(entry(payload="crlf")) + "\r\n").encode()).decode()}, PING, PONG], [ok_out(payload="crlf")]),
    case("unknown-fields-ignored", "Unknown fields are ignored, at the top and in batch entries.",
         [{"send": line(entry(extra={"deep": [1, 2, {"x": None}]}, another=True))},
          {"send": line({"entries": [entry(payload="b", zzz=1)], "note": "x"})}, PING, PONG],
         [ok_out(), ok_out(payload="b")]),
    case("unsupported-version", "A message version other than \"1.0\" is unsupported_version; nothing is accepted.",
         [{"send": line(entry(version="2.0"))}, {"expect": err("unsupported_version")},
          {"send": line({"version": "2.0", "entries": [entry()]})}, {"expect": err("unsupported_version")},
          {"send": '{"version":"2.0","action":"ping"}'}, {"expect": err("unsupported_version")},
          {"send": line(entry(version=1))}, {"expect": err("unsupported_version")},
          PING, PONG]),
    case("message-too-large", "A line longer than the maximum (16 MiB by default) is answered message_too_large and skipped; the connection stays usable.",
         [{"send": '{"payload":"@BIG@","entryType":1,"source":"svc","logLevel":7}', "expand": {"@BIG@": {"repeat": "a", "count": 16 * 1024 * 1024}}},
          {"expect": err("message_too_large")}, {"send": line(entry(payload="after"))}, PING, PONG],
         [ok_out(payload="after")]),
]

# ---------------------------------------------------------------- entry fields
f = []
f += [bad_entry("payload-missing", "payload is required.", entry(payload=DROP), "payload"),
      bad_entry("payload-null", "null in a required field means missing.", entry(payload=None), "payload"),
      bad_entry("payload-empty", "payload must not be empty.", entry(payload=""), "payload"),
      bad_entry("payload-number", "payload must be a string.", entry(payload=5), "payload"),
      good_entry("payload-1mib", "A payload of exactly 1 MiB (1,048,576 bytes) is accepted.", None, ok_out(payload="$len:1048576"),
                 raw='{"payload":"@P@","entryType":1,"source":"svc","logLevel":7}'),
      bad_entry("payload-over-1mib", "A payload of 1,048,577 bytes is refused.", None, "payload",
                raw='{"payload":"@P@","entryType":1,"source":"svc","logLevel":7}'),
      good_entry("payload-escapes-count-after-unescaping", "The payload limit counts bytes after JSON unescaping: 524,288 escaped é (2 bytes each) is exactly 1 MiB.",
                 None, ok_out(payload="$len:1048576"), raw='{"payload":"@P@","entryType":1,"source":"svc","logLevel":7}'),
      good_entry("payload-unicode-escapes", "Escapes, surrogate pairs and control characters in strings are decoded and re-encoded faithfully.",
                 None, ok_out(payload="quote \" backslash \\ tab \t newline \n é 😀 \u0001"),
                 raw='{"payload":"quote \\" backslash \\\\ tab \\t newline \\n \\u00e9 \\ud83d\\ude00 \\u0001","entryType":1,"source":"svc","logLevel":7}'),
      ]
f[4]["steps"][0]["expand"] = {"@P@": {"repeat": "a", "count": 1048576}}
f[5]["steps"][0]["expand"] = {"@P@": {"repeat": "a", "count": 1048577}}
f[6]["steps"][0]["expand"] = {"@P@": {"repeat": "\\u00e9", "count": 524288}}
f[6]["output"] = [ok_out(payload="$len:1048576")]
for v in [0, 6, -1]:
    f.append(bad_entry("entryType-%d" % v, "entryType must be 1 to 5.", entry(entryType=v), "entryType"))
f += [bad_entry("entryType-string", "Integers must be JSON integers, not strings.", entry(entryType="1"), "entryType"),
      bad_entry("entryType-fraction", "Integers must be JSON integers, not 1.5.", None, "entryType", raw='{"payload":"hello","entryType":1.5,"source":"svc","logLevel":7}'),
      bad_entry("entryType-exponent", "1e0 is not a JSON integer.", None, "entryType", raw='{"payload":"hello","entryType":1e0,"source":"svc","logLevel":7}'),
      bad_entry("entryType-missing", "entryType is required.", entry(entryType=DROP), "entryType")]
for v in range(1, 6):
    f.append(good_entry("entryType-%d" % v, "Entry types 1 to 5 are accepted.", entry(entryType=v), ok_out(entryType=v)))
for v in [0, 9]:
    f.append(bad_entry("logLevel-%d" % v, "logLevel must be 1 to 8.", entry(logLevel=v), "logLevel"))
f += [bad_entry("logLevel-string", "logLevel \"6\" is a string, not an integer.", entry(logLevel="6"), "logLevel"),
      bad_entry("logLevel-fraction", "logLevel 6.5 is not an integer.", None, "logLevel", raw='{"payload":"hello","entryType":1,"source":"svc","logLevel":6.5}'),
      bad_entry("logLevel-huge", "A huge integer is out of range, not a crash.", None, "logLevel", raw='{"payload":"hello","entryType":1,"source":"svc","logLevel":99999999999999999999999999999}'),
      bad_entry("logLevel-huge-exponent", "1e999 is not an integer.", None, "logLevel", raw='{"payload":"hello","entryType":1,"source":"svc","logLevel":1e999}'),
      bad_entry("logLevel-missing", "logLevel is required.", entry(logLevel=DROP), "logLevel")]
for v in range(1, 9):
    f.append(good_entry("logLevel-%d" % v, "Levels 1 to 8 are accepted.", entry(logLevel=v), ok_out(logLevel=v)))
f += [bad_entry("source-missing", "source is required.", entry(source=DROP), "source"),
      bad_entry("source-empty", "source must not be empty.", entry(source=""), "source"),
      bad_entry("source-number", "source must be a string.", entry(source=1), "source"),
      good_entry("source-256-chars", "256 characters are accepted; the limit counts characters, not bytes.", entry(source="é" * 256), ok_out(source="é" * 256)),
      bad_entry("source-257-chars", "257 characters are refused.", entry(source="s" * 257), "source"),
      good_entry("timestamp-utc", "An RFC 3339 UTC timestamp is kept.", entry(timestamp="2025-08-31T10:30:00Z"), ok_out(timestamp="2025-08-31T10:30:00Z")),
      good_entry("timestamp-offset", "An offset other than Z is converted to UTC.", entry(timestamp="2025-08-31T12:30:00.25+02:00"), ok_out(timestamp="2025-08-31T10:30:00.25Z")),
      good_entry("timestamp-null", "null in an optional field means absent: the time of receipt.", entry(timestamp=None), ok_out()),
      bad_entry("timestamp-invalid", "A timestamp that is not RFC 3339 is refused.", entry(timestamp="yesterday"), "timestamp"),
      bad_entry("timestamp-no-zone", "RFC 3339 needs a zone.", entry(timestamp="2025-08-31T10:30:00"), "timestamp"),
      bad_entry("timestamp-impossible-date", "February 30th does not exist.", entry(timestamp="2025-02-30T10:30:00Z"), "timestamp"),
      bad_entry("timestamp-number", "A Unix time number is not RFC 3339.", entry(timestamp=1756636200), "timestamp"),
      good_entry("payloadType-known", "A documented payloadType is kept.", entry(payloadType="generic_json"), ok_out(payloadType="generic_json")),
      good_entry("payloadType-custom", "Other identifiers of letters, digits, _ - . are accepted.", entry(payloadType="my.app-log_v2"), ok_out(payloadType="my.app-log_v2")),
      good_entry("payloadType-64", "64 characters are accepted.", entry(payloadType="p" * 64), ok_out(payloadType="p" * 64)),
      bad_entry("payloadType-65", "65 characters are refused.", entry(payloadType="p" * 65), "payloadType"),
      bad_entry("payloadType-space", "Spaces are not allowed.", entry(payloadType="two words"), "payloadType"),
      bad_entry("payloadType-empty", "An empty payloadType is refused (omit it or use null for the default).", entry(payloadType=""), "payloadType"),
      good_entry("metadata", "String metadata comes out as it went in.", entry(metadata={"a": "1", "b": "two", "ü": "ß"}), ok_out(metadata={"a": "1", "b": "two", "ü": "ß"})),
      bad_entry("metadata-number-value", "A metadata value that is a number is an error naming its key, never coerced.", entry(metadata={"count": 5}), "metadata.count"),
      bad_entry("metadata-null-value", "A null metadata value is not a string.", entry(metadata={"k": None}), "metadata.k"),
      bad_entry("metadata-object-value", "A nested object is not a string.", entry(metadata={"k": {"x": "y"}}), "metadata.k"),
      bad_entry("metadata-not-object", "metadata must be an object.", entry(metadata=["a"]), "metadata"),
      good_entry("metadata-1024-chars", "A value of 1024 characters is accepted.", entry(metadata={"k": "é" * 1024}), ok_out(metadata={"k": "é" * 1024})),
      bad_entry("metadata-1025-chars", "A value of 1025 characters is refused.", entry(metadata={"k": "v" * 1025}), "metadata.k"),
      good_entry("metadata-null", "metadata null means absent.", entry(metadata=None), ok_out()),
      ]
files["fields"] = f

# ---------------------------------------------------------------- hostile input
h = []
def hostile(name, desc, raw_bytes, code):
    return case(name, desc, [{"send_raw": base64.b64encode(raw_bytes + b"\n").decode()}, {"expect": err(code)}, PING, PONG])
h += [hostile("invalid-utf8", "Invalid UTF-8 in a string is invalid_json, never stored.", b'{"payload":"\xff\xfe","entryType":1,"source":"svc","logLevel":7}', "invalid_json"),
      hostile("invalid-utf8-in-key", "Invalid UTF-8 in an ignored key is still invalid_json.", b'{"\xc3":1,"payload":"x","entryType":1,"source":"svc","logLevel":7}', "invalid_json"),
      hostile("lone-surrogate", "A lone surrogate escape is invalid_json.", b'{"payload":"\\ud800","entryType":1,"source":"svc","logLevel":7}', "invalid_json"),
      hostile("control-character", "A raw control character in a string is invalid_json.", b'{"payload":"a\x01b","entryType":1,"source":"svc","logLevel":7}', "invalid_json"),
      hostile("deeply-nested", "Nesting 10,000 levels deep is refused quickly (limit 64), not a stack overflow.", b'{"x":' + b"[" * 10000 + b"]" * 10000 + b"}", "invalid_json"),
      hostile("deeply-nested-unterminated", "Unterminated deep nesting.", b"[" * 100000, "invalid_json"),
      hostile("duplicate-keys", "Duplicate keys in an entry are invalid_json (no silent last-wins).", b'{"payload":"a","payload":"b","entryType":1,"source":"svc","logLevel":7}', "invalid_json"),
      hostile("duplicate-metadata-keys", "Duplicate metadata keys are invalid_json.", b'{"payload":"a","entryType":1,"source":"svc","logLevel":7,"metadata":{"k":"1","k":"2"}}', "invalid_json"),
      hostile("not-json", "Plain text is invalid_json.", b"hello agent", "invalid_json"),
      hostile("truncated-json", "A truncated object is invalid_json.", b'{"payload":"x","entryType":1', "invalid_json"),
      hostile("trailing-garbage", "Data after the object is invalid_json.", b'{"payload":"x","entryType":1,"source":"svc","logLevel":7} trailing', "invalid_json"),
      hostile("two-objects", "Two objects on one line are invalid_json.", b'{"action":"ping"}{"action":"ping"}', "invalid_json"),
      hostile("array-line", "A JSON array line is invalid_message.", b'[{"payload":"x"}]', "invalid_message"),
      hostile("string-line", "A JSON string line is invalid_message.", b'"hello"', "invalid_message"),
      hostile("number-line", "A JSON number line is invalid_message.", b"42", "invalid_message"),
      hostile("null-line", "A JSON null line is invalid_message.", b"null", "invalid_message"),
      hostile("binary-garbage", "Binary garbage is invalid_json.", bytes(range(1, 10)) + b"\x00\xff\x80", "invalid_json"),
      hostile("empty-object", "An empty object is an entry missing every required field.", b"{}", "invalid_entry"),
      hostile("nul-byte", "A NUL byte is invalid_json.", b'{"payload":"a\x00b"}', "invalid_json"),
      hostile("huge-number-unknown-field", "A huge number in an ignored field is fine JSON; the entry is still checked.", b'{"n":' + b"9" * 5000 + b',"payload":"x","entryType":1,"source":"svc","logLevel":70}', "invalid_entry"),
      ]
h.append(case("wrong-types-everywhere", "Every field of the wrong type: one error per field.",
              [{"send": line({"payload": 1, "entryType": "1", "source": [], "logLevel": True, "timestamp": 5, "payloadType": 7, "metadata": "m"})},
               {"expect": err("invalid_entry", [fe("payload"), fe("entryType"), fe("source"), fe("logLevel"), fe("timestamp"), fe("payloadType"), fe("metadata")])},
               PING, PONG]))
files["hostile"] = h

# ---------------------------------------------------------------- TCP authentication
AUTH = {"send": '{"version":"1.0","action":"authenticate","shared_secret":"@SECRET@"}'}
AUTH_OK = {"expect": {"status": "success", "message": "Authentication successful"}}
files["tcp"] = [
    case("tcp-authenticate", "On TCP, authenticate first; then entries are accepted.",
         [AUTH, AUTH_OK, {"send": line(entry(payload="tcp"))}, PING, PONG], [ok_out(payload="tcp")], transport="tcp"),
    case("tcp-wrong-secret", "A wrong secret is auth_failed and the connection is closed.",
         [{"send": '{"version":"1.0","action":"authenticate","shared_secret":"wrong-secret-wrong-secret-wrong-secret"}'},
          {"expect": err("auth_failed")}, {"expect_closed": True}], transport="tcp"),
    case("tcp-entry-before-auth", "Anything but authenticate first is auth_required and closed; the entry is not accepted.",
         [{"send": line(entry())}, {"expect": err("auth_required")}, {"expect_closed": True}], transport="tcp"),
    case("tcp-ping-before-auth", "Even a ping needs authentication first on TCP.",
         [PING, {"expect": err("auth_required")}, {"expect_closed": True}], transport="tcp"),
    case("tcp-garbage-before-auth", "A line that is not JSON first is auth_required.",
         [{"send": "garbage"}, {"expect": err("auth_required")}, {"expect_closed": True}], transport="tcp"),
    case("tcp-authenticate-without-secret", "authenticate without a shared_secret is not a valid authenticate: auth_required.",
         [{"send": '{"action":"authenticate"}'}, {"expect": err("auth_required")}, {"expect_closed": True}], transport="tcp"),
    case("tcp-reauthenticate-wrong", "A later authenticate is checked again like the first.",
         [AUTH, AUTH_OK, {"send": line(entry(payload="kept"))}, PING, PONG,
          {"send": '{"action":"authenticate","shared_secret":"nope"}'}, {"expect": err("auth_failed")}, {"expect_closed": True}],
         [ok_out(payload="kept")], transport="tcp"),
    case("tcp-auth-timeout", "No authentication within the timeout is auth_timeout and closed.",
         [{"wait_ms": 0}, {"expect": err("auth_timeout")}, {"expect_closed": True}], transport="tcp", agent={"auth_timeout_ms": 300}),
    case("tcp-auth-timeout-mid-line", "An authenticate line still unfinished when the timeout passes (a client sending it slowly) is auth_timeout too, not auth_required.",
         [{"send_raw": base64.b64encode(b'{"action":').decode()}, {"wait_ms": 100},
          {"send_raw": base64.b64encode(b'"authenticate",').decode()}, {"wait_ms": 100},
          {"send_raw": base64.b64encode(b'"shared_sec').decode()},
          {"expect": err("auth_timeout")}, {"expect_closed": True}], transport="tcp", agent={"auth_timeout_ms": 600}),
]

# ---------------------------------------------------------------- queue full
files["queue"] = [
    case("queue-full-reject", "With the output stalled and a small queue, a message that does not fit is answered queue_full and nothing of it is accepted; the connection stays open.",
         [{"send": line(entry(payload="x" * 600))},
          {"send": line({"entries": [entry(payload="y" * 600), entry(payload="z")]})},
          {"expect": err("queue_full")}, PING, PONG,
          {"send": '{"action":"flush"}'}, {"expect": {"status": "success", "action": "flush", "accepted": 1, "rejected": 2}}],
         [ok_out(payload="x" * 600)], agent={"queue_max_bytes": 1024, "output": "stalled"}),
]

os.makedirs(OUT, exist_ok=True)
for name, cases in files.items():
    with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as fh:
        json.dump({"cases": cases}, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
print("wrote", sum(len(c) for c in files.values()), "cases")
