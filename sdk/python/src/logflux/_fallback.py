"""The fallback file: entries the agent could not take, one per line in the
Agent API's single-entry format, so the file can be replayed as it is with
``logflux-agent send --file FILE``.

A line is written whole or not at all, and the file never grows past its
cap: entries that do not fit are dropped and counted. Every write is
fsynced. If the file is removed or replaced (say, after a replay), the next
write opens it again."""

from __future__ import annotations

import os


class FallbackFile:
    """Appends entry lines to one file, capped in bytes."""

    def __init__(self, path: str, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._fd = -1
        self._ino: tuple[int, int] | None = None
        self._size = 0

    def _open(self) -> None:
        if self._fd >= 0:
            try:
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) == self._ino:
                    self._size = st.st_size
                    return
            except OSError:
                pass
            self.close()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        st = os.fstat(fd)
        self._fd, self._ino, self._size = fd, (st.st_dev, st.st_ino), st.st_size

    def write(self, lines: list[bytes]) -> tuple[int, OSError | None]:
        """Appends the lines (each without its newline) that fit. Returns
        how many were written and the error that stopped it, if any."""
        try:
            self._open()
        except OSError as e:
            return 0, e
        room = self.max_bytes - self._size
        out = bytearray()
        n = 0
        for line in lines:
            if len(out) + len(line) + 1 > room:
                continue
            out += line
            out += b"\n"
            n += 1
        if not out:
            return 0, None
        try:
            view = memoryview(out)
            while view:
                k = os.write(self._fd, view)
                view = view[k:]
                self._size += k
            os.fsync(self._fd)
        except OSError as e:
            written = out[: len(out) - len(view)].count(b"\n")
            if len(view) and len(view) < len(out):
                try:
                    os.write(self._fd, b"\n")  # end the torn line
                except OSError:
                    pass
            self.close()
            return written, e
        return n, None

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = -1
            self._ino = None
