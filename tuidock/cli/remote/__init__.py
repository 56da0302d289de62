"""The docker-style commands on a Docker or Podman engine.

cli/main.py parses a command line with the same parser whichever engine is
chosen, so flags, defaults and usage errors are the same everywhere. When
the endpoint is not tuidock's own engine, the handler that parsing chose,
`cli/commands/<module>.py:cmd_x`, is swapped here for its namesake in
`cli/remote/<module>.py`, which does the same through the Engine API
(backends/docker.py, the Docker SDK) and prints what the docker CLI prints
for that engine. A handler without a namesake belongs to the embedded engine
alone (`image mount`, `demo`, ...): the user gets one line naming the
command and the endpoint.

Remote handlers take `(args, backend)` and return the exit code; they raise
TuidockError like the local ones and never print below the CLI layer.
Handlers marked get-only (`_shared.get_only`: ps, images) take a reader
instead: on a unix:// host the lean client (backends/unixget.py: a socket
and json, no SDK, no version round trip; a whole `tuidock -H unix://... ps`
measured ~25 ms where the SDK path took ~130, the docker CLI ~14),
elsewhere the SDK's client behind the same `get`. Handlers marked
`lean_unix` (exec) take the lean client on a unix:// host and the backend
elsewhere, and tell the two apart themselves.
"""

from __future__ import annotations

import importlib

from tuidock.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from tuidock.backends.endpoint import Endpoint

_LOCAL_PREFIX = "tuidock.cli.commands."


def remote_handler(args: argparse.Namespace):
    """The Engine-API namesake of the handler parsing chose, or None."""
    handler = args.handler
    module = handler.__module__
    if not module.startswith(_LOCAL_PREFIX):
        return None
    # exec's pass-through parser hands the raw argv on (see cli/commands/exec.py).
    name = "cmd_exec" if hasattr(args, "exec_argv") else handler.__name__
    try:
        remote = importlib.import_module("tuidock.cli.remote." + module[len(_LOCAL_PREFIX) :])
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("tuidock.cli.remote"):
            return None
        raise
    return getattr(remote, name, None)


def command_words(args: argparse.Namespace) -> str:
    """`image mount`, `ps`: the words the user typed for the command."""
    words = [args.top_command]
    sub = getattr(args, f"{args.top_command}_command", None)
    if isinstance(sub, str):
        words.append(sub)
    return " ".join(words)


def dispatch(args: argparse.Namespace, endpoint: Endpoint | str) -> int:
    """Run the parsed command against the Docker/Podman engine at `endpoint` (an
    Endpoint, or the bare unix:// URL cli/endpoints.py settles without one)."""
    host = endpoint if isinstance(endpoint, str) else endpoint.host
    handler = remote_handler(args)
    if handler is None:
        raise UsageError(
            f"tuidock {command_words(args)}: a command of tuidock's own engine; "
            f"the Docker/Podman engine at {host} does not have it",
            "Run it without -H/--context (or with --context local).",
        )
    get_only = getattr(handler, "get_only", False)
    # get-only handlers, and those marked lean_unix (exec), take the lean client there.
    if (get_only or getattr(handler, "lean_unix", False)) and host.startswith("unix://"):
        from tuidock.backends.unixget import UnixGet

        return handler(args, UnixGet(host))
    if isinstance(endpoint, str):
        from tuidock.backends.endpoint import Endpoint

        endpoint = Endpoint(host, host)  # as contexts.resolve names a -H host
    from tuidock.backends.docker import DockerBackend

    backend = DockerBackend(endpoint)
    try:
        if get_only:
            from tuidock.cli.remote._shared import SdkGet

            return handler(args, SdkGet(backend))
        return handler(args, backend)
    finally:
        backend.close()
