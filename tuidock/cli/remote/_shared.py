"""What the remote handlers share: the daemon's error text, Go's time strings, raw API calls.

Not a namesake of any local module (the leading underscore keeps it out of
the seam's lookup in cli/remote/__init__.py). Imports stay lazy: the docker
SDK comes in through the backend only; ps and images load this module on
their lean path (backends/unixget.py), so typing and collections stay out.

Get-only handlers (`get_only`: ps, images) take a reader, not the backend:
anything with `get(path, query) -> JSON`. dispatch gives them UnixGet on a
unix:// host and SdkGet (the SDK's client) on tcp:// and ssh://, so both
paths feed the same row and table code from the same raw API dicts.
"""

from __future__ import annotations

import sys
import time

from tuidock.errors import EngineUnreachable, TuidockError

TYPE_CHECKING = False  # typing and collections.abc cost the lean path ~3 ms
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, Protocol

    class Reader(Protocol):
        """What a get-only handler asks the engine through."""

        def get(self, path: str, query: dict[str, object] | None = None) -> Any: ...


DAEMON = "Error response from daemon: "


def get_only(handler: Callable) -> Callable:
    """Mark a remote handler that only reads: it takes a Reader, not the backend."""
    handler.get_only = True  # type: ignore[attr-defined]
    return handler


class SdkGet:
    """A Reader over DockerBackend's SDK client (tcp:// with TLS, ssh://), errors mapped."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def get(self, path: str, query: dict[str, object] | None = None) -> Any:
        api = self.backend.api()
        return self.backend._call(lambda: api._result(api._get(api._url(path), params=query), True))


def daemon_text(exc: TuidockError) -> str:
    """The daemon's own words of a failed call, without the backend's prefix."""
    return exc.message.removeprefix(DAEMON)


def daemon_words(fn: Callable) -> Callable:
    """A remote handler whose failures read as the docker CLI's: the daemon's words
    after "Error: ", not "Error: Error response from daemon: ..."."""
    import functools

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TuidockError as exc:
            if exc.message.startswith(DAEMON):
                exc.message = daemon_text(exc)
            raise

    return run


def each(names: Iterable[str], fn: Callable[[str], Any], echo: bool = False) -> int:
    """`fn(name)` for every name, as docker's multi-object verbs: an error line per
    failure on stderr, the others still done; exit status 1 if any failed. With
    `echo`, each name done is printed (rm, volume rm, network rm)."""
    code = 0
    for name in names:
        try:
            fn(name)
        except EngineUnreachable:
            raise
        except TuidockError as exc:
            sys.stdout.flush()
            print(f"Error: {daemon_text(exc)}", file=sys.stderr)
            code = 1
            continue
        if echo:
            print(name, flush=True)
    return code


def collect(names: Iterable[str], fn: Callable[[str], Any]) -> tuple[list, list[str]]:
    """(answers, error lines) of `fn(name)` for every name: what inspect verbs print."""
    found, errors = [], []
    for name in names:
        try:
            found.append(fn(name))
        except EngineUnreachable:
            raise
        except TuidockError as exc:
            errors.append(daemon_text(exc))
    return found, errors


def short_id(value: str, no_trunc: bool = False) -> str:
    """Docker's TruncateID: 12 hex digits without the algorithm; all of it with --no-trunc."""
    if no_trunc or not value or value == "<missing>":
        return value
    return value.split(":", 1)[-1][:12]


def go_time(value: float | int | str | None) -> str:
    """Go's time.Time.String() in local time: 2024-01-02 03:04:05.123 +0000 UTC (the
    fraction as Go prints it, trailing zeros dropped), from Unix seconds or RFC 3339."""
    import re

    t = time.localtime(unix_of(value))
    frac = ""
    if isinstance(value, str):
        m = re.search(r"\.(\d+)", value)
        frac = "." + m.group(1)[:9].rstrip("0") if m and m.group(1).rstrip("0") else ""
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", t) + frac + time.strftime(" %z ", t) + (t.tm_zone or "")
    )


def ago(unix: float) -> str:
    """Docker's CreatedSince: "2 years ago"."""
    from tuidock.core.humanize import human_duration

    return human_duration(time.time() - unix) + " ago"


def unix_of(value: int | str | None) -> float:
    """A time the API gives as Unix seconds or RFC 3339 (Podman sends both forms)."""
    if isinstance(value, (int, float)):
        return float(value)
    from tuidock.core.humanize import parse_time

    return parse_time(value or "") or 0.0


def stream_json(backend: Any, response: Any) -> Iterable[dict]:
    """The JSON messages of a streamed API response (pull, push, load, import)."""
    api = backend.api()
    api._raise_for_status(response)
    return api._stream_helper(response, decode=True)
