"""`events` on a Docker/Podman engine: the engine's /events stream, filtered by
the engine, printed with the local command's line format and templates
(commands/system_events.py), so both engines print what `docker events` prints.

The stream ends at --until (the engine closes it) or on Ctrl-C (exit 0).
"""

from __future__ import annotations

import argparse
import sys
import time

from tuidock.cli.commands.system_events import parse_filters, renderer
from tuidock.cli.remote._shared import daemon_words

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuidock.backends.docker import DockerBackend


def _api_time(time_ns: int) -> str:
    """A time as the Engine API takes it: Unix seconds with nanoseconds."""
    return f"{time_ns // 1_000_000_000}.{time_ns % 1_000_000_000:09d}"


@daemon_words
def cmd_events(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.backends.docker import api_errors
    from tuidock.core.timestamps import parse_timestamp_ns

    now = time.time_ns()
    since = parse_timestamp_ns(args.since, now) if args.since else None
    until = parse_timestamp_ns(args.until, now) if args.until else None
    filters = parse_filters(args.filter)
    render = renderer(args.format)
    api = backend.api()
    params: dict = {"filters": filters} if filters else {}
    if since is not None:
        params["since"] = _api_time(since)
    if until is not None:
        params["until"] = _api_time(until)
    if "filters" in params:
        from docker.utils import convert_filters

        params["filters"] = convert_filters(params["filters"])
    out = sys.stdout
    try:
        with api_errors(backend.location):
            response = api._get(api._url("/events"), params=params, stream=True, timeout=None)
            api._raise_for_status(response)
            for event in api._stream_helper(response, decode=True):
                event.setdefault("timeNano", int(event.get("time", 0)) * 1_000_000_000)
                out.write(render(event) + "\n")
                out.flush()
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a stream is meant to end
    return 0
