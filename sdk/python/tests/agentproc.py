"""The real logflux-agent binary, run on a socket in a temporary directory
(and a loopback TCP port), for the integration tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]


def agent_binary() -> str:
    """LOGFLUX_AGENT_BIN, else a binary built once with `go build`."""
    env = os.environ.get("LOGFLUX_AGENT_BIN")
    if env:
        if not os.access(env, os.X_OK):
            raise RuntimeError(f"LOGFLUX_AGENT_BIN={env} is not an executable")
        return env
    out = Path(tempfile.gettempdir()) / f"logflux-agent-pytest-{os.getuid()}"
    subprocess.run(["go", "build", "-o", str(out), "./cmd/logflux-agent"], cwd=REPO, check=True)
    return str(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Agent:
    """One agent process: start, stop, restart, and what it stored."""

    def __init__(self, binary: str, secret: str | None = None, config: str | None = None) -> None:
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="lfpy")
        self.sock = os.path.join(self.dir, "agent.sock")
        self.data = os.path.join(self.dir, "data")
        self.secret = secret
        self.tcp = f"127.0.0.1:{free_port()}" if secret else None
        self.args = [binary, "run", "--unix-path", self.sock, "--data-dir", self.data,
                     "--admin-address", "off", "--log-level", "warn"]
        if config is not None:
            path = os.path.join(self.dir, "agent.yaml")
            Path(path).write_text(config)
            self.args += ["--config", path]
        if self.tcp:
            self.args += ["--tcp-address", self.tcp, "--shared-secret", secret or ""]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(self.dir, "agent.log")

    @property
    def addr(self) -> str:
        return "unix://" + self.sock

    @property
    def tcp_addr(self) -> str:
        assert self.tcp
        return "tcp://" + self.tcp

    def start(self) -> Agent:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited at start:\n{self.output()}")
            if self._listening():
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"agent not listening after 15s:\n{self.output()}")
            time.sleep(0.01)

    def _listening(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(self.sock)
            if self.tcp:
                host, port = self.tcp.rsplit(":", 1)
                with socket.create_connection((host, int(port)), timeout=1):
                    pass
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"agent did not stop on SIGTERM:\n{self.output()}")
        self.proc = None

    def output(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""

    def stored(self) -> list[dict[str, Any]]:
        path = Path(self.data) / "entries.ndjson"
        if not path.exists():
            return []
        out = []
        for line in path.read_bytes().splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def size(self) -> int:
        try:
            return (Path(self.data) / "entries.ndjson").stat().st_size
        except OSError:
            return 0

    def stored_from(self, offset: int) -> list[dict[str, Any]]:
        """The complete entries written after byte offset."""
        path = Path(self.data) / "entries.ndjson"
        if not path.exists():
            return []
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
        data = data[: data.rfind(b"\n") + 1]
        return [json.loads(line) for line in data.splitlines() if line.strip()]

    def wait_stored(self, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Waits until the agent's file output holds at least n entries."""
        deadline = time.monotonic() + timeout
        while True:
            es = self.stored()
            if len(es) >= n or time.monotonic() > deadline:
                return es
            time.sleep(0.02)

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def payloads(entries: list[dict[str, Any]]) -> list[str]:
    return [str(e["payload"]) for e in entries]
