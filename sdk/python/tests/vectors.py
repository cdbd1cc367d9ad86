"""The conformance vectors of testdata/protocol (format: its README.md)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

CASES = Path(__file__).resolve().parents[3] / "testdata" / "protocol" / "cases"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def load() -> list[dict[str, Any]]:
    cases = []
    for f in sorted(CASES.glob("*.json")):
        for c in json.loads(f.read_text())["cases"]:
            c["file"] = f.name
            cases.append(c)
    if not cases:
        raise RuntimeError(f"no conformance vectors in {CASES}")
    return cases


def step_bytes(step: dict[str, Any], secret: str) -> bytes:
    if "send_raw" in step:
        return base64.b64decode(str(step["send_raw"]))
    text = str(step["send"]).replace("@SECRET@", secret)
    for ph, x in step.get("expand", {}).items():
        text = text.replace(ph, x["repeat"] * x["count"])
    return (text + "\n").encode()


def _rfc3339utc(v: object) -> bool:
    if not isinstance(v, str) or not v.endswith("Z"):
        return False
    try:
        dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", v[:-1]))
        return True
    except ValueError:
        return False


def mismatch(expected: Any, actual: Any, present: bool, entry: dict[str, Any] | None, path: str) -> str:
    """How actual differs from expected under the vectors' rules ("" if it
    matches)."""
    if isinstance(expected, str) and expected.startswith("$"):
        if expected == "$absent":
            return f"{path}: want absent, got {actual!r}" if present else ""
        if not present:
            return f"{path}: missing (want {expected})"
        if expected == "$any":
            return ""
        if expected == "$uuid":
            return "" if isinstance(actual, str) and _UUID.match(actual) else f"{path}: {actual!r} is not a UUID"
        if expected == "$rfc3339utc":
            return "" if _rfc3339utc(actual) else f"{path}: {actual!r} is not RFC 3339 UTC"
        if expected == "$receivedAt":
            return "" if entry is not None and actual == entry.get("receivedAt") else f"{path}: not receivedAt"
        if expected.startswith("$len:"):
            n = int(expected[5:])
            ok = isinstance(actual, str) and len(actual.encode()) == n
            return "" if ok else f"{path}: want a string of {n} bytes"
    if not present:
        return f"{path}: missing (want {expected!r})"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: want an object, got {actual!r}"
        for k, ev in expected.items():
            d = mismatch(ev, actual.get(k), k in actual, entry, f"{path}.{k}")
            if d:
                return d
        return ""
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path}: want {len(expected)} elements, got {actual!r}"[:300]
        for i, (e, a) in enumerate(zip(expected, actual)):
            d = mismatch(e, a, True, entry, f"{path}[{i}]")
            if d:
                return d
        return ""
    if expected != actual or type(expected) is not type(actual):
        return f"{path}: want {expected!r}, got {actual!r}"[:300]
    return ""
