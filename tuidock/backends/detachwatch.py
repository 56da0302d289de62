"""The detach keys watched in typed input, on the client's side, as the docker CLI does.

Docker's engine watches an attach's stdin for the keys itself; Podman's
compatible service does not (its attach and exec streams pass them on to
the process), so `docker -H podman run -it` detaches only because the
docker CLI watches too. The relays here do the same: backends/attachrelay.py
(the UI's attach sessions) and backends/dockerexec.py `relay` (the CLI's
`run -it`, `start -ai`, `exec -it` on Docker and Podman). Typed keys of the
sequence are never sent, so the engine's own watch never fires first.

Pure bytes: no imports, loaded on the lean `-H unix://... exec` path.
"""

from __future__ import annotations

DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q


class DetachWatch:
    """Keyboard input with the detach sequence taken out; a sequence's first keys
    are held back until the next key says whether it completes."""

    def __init__(self, keys: bytes = DETACH_KEYS) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(what to send on, whether the sequence was typed)."""
        buf, self.held = self.held + data, b""
        idx = buf.find(self.keys)
        if idx >= 0:
            return buf[:idx], True
        for n in range(min(len(self.keys) - 1, len(buf)), 0, -1):
            if buf.endswith(self.keys[:n]):
                self.held = buf[-n:]
                return buf[:-n], False
        return buf, False
