"""Which engine a CLI call talks to: the global -H/--context/TLS flags and the environment.

Kept apart from cli/main.py so that `tuidock exec` (started by __main__
without the big parser) checks the same thing. The common case (no flag, no
environment variable, no current context recorded) costs one stat and loads
nothing of backends/contexts.py.
"""

from __future__ import annotations

import argparse
import os

from tuidock.backends.endpoint import CONTEXT_ENV, CURRENT_FILE, HOST_ENV, Endpoint
from tuidock.errors import UsageError

_FLAGS = ("host", "context", "tlsverify", "tlscacert", "tlscert", "tlskey")


def global_endpoint_args(parser: argparse.ArgumentParser) -> None:
    """The docker CLI's global flags choosing the engine (before the command)."""
    g = parser.add_argument_group("engine (default: the current context, else local)")
    g.add_argument(
        "-H",
        "--host",
        dest="global_host",
        metavar="URL",
        help="Engine to talk to: unix://PATH, tcp://HOST:PORT, ssh://[USER@]HOST",
    )
    g.add_argument(
        "-c",
        "--context",
        dest="global_context",
        metavar="NAME",
        help="Context to use (overrides $TUIDOCK_HOST and 'context use')",
    )
    g.add_argument(
        "--tlsverify",
        dest="global_tlsverify",
        action="store_true",
        help="Use TLS and verify the remote",
    )
    g.add_argument(
        "--tlscacert",
        dest="global_tlscacert",
        metavar="FILE",
        help="Trust certs signed only by this CA",
    )
    g.add_argument(
        "--tlscert", dest="global_tlscert", metavar="FILE", help="Path to TLS certificate file"
    )
    g.add_argument("--tlskey", dest="global_tlskey", metavar="FILE", help="Path to TLS key file")


def chosen_endpoint(args: argparse.Namespace | None) -> Endpoint:
    """The engine this call talks to (see backends/contexts.py for the order)."""
    from tuidock.runtime.store import paths

    flags = [getattr(args, f"global_{f}", None) for f in _FLAGS]
    config = paths.config_dir()
    if (
        not any(flags)
        and not (os.environ.get(HOST_ENV) or os.environ.get(CONTEXT_ENV))
        and not os.path.exists(config / CURRENT_FILE)
    ):
        return Endpoint()  # the common case, without loading the context code
    from tuidock.backends.contexts import resolve, tls_from_files

    host, context, verify, ca, cert, key = flags
    return resolve(config, host, context, tls_from_files(bool(verify), ca, cert, key))


def require_local(command: str, args: argparse.Namespace | None) -> None:
    """Commands other than the UI drive only the embedded engine for now."""
    endpoint = chosen_endpoint(args)
    if endpoint.is_local:
        return
    chosen = (
        f"--host {endpoint.host}"
        if endpoint.name == endpoint.host
        else f"--context {endpoint.name}"
    )
    raise UsageError(
        f"tuidock {command} on {endpoint.host}: not available for Docker/Podman endpoints "
        f"yet; use the UI (tuidock {chosen})"
    )
