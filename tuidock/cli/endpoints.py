"""Which engine a CLI call talks to: the global -H/--context/TLS flags and the environment.

Kept apart from cli/main.py so that `tuidock exec` (started by __main__
without the big parser) checks the same thing. The common case (no flag, no
environment variable, no current context recorded) costs one stat and loads
nothing of backends/contexts.py. Nor does a plain unix:// host from -H,
$TUIDOCK_HOST or a created context's file (`lean_unix_host`): it needs no
TLS and no Endpoint (endpoint.py's dataclasses and contexts.py cost ~15 ms),
so `tuidock -H unix://... ps` is settled with string checks.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs ~2 ms of every CLI start, argparse ~3 ms of exec's
if TYPE_CHECKING:
    import argparse

    from tuidock.backends.endpoint import Endpoint

# backends/endpoint.py's names, repeated so that the common case loads nothing:
# HOST_ENV, CONTEXT_ENV, CURRENT_FILE, LOCAL.
_HOST_ENV, _CONTEXT_ENV, _CURRENT_FILE, _LOCAL = (
    "TUIDOCK_HOST",
    "TUIDOCK_CONTEXT",
    "current-context",
    "local",
)

# contexts.py's NAME_RE (docker's rule for context names); a bigger file goes through it.
_NAME_RE = r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"
_CONTEXT_MAX = 1 << 20

_FLAGS = ("host", "context", "tlsverify", "tlscacert", "tlscert", "tlskey")
# global_endpoint_args' options as they appear before the command word.
_VALUED = frozenset({"-H", "--host", "-c", "--context", "--tlscacert", "--tlscert", "--tlskey"})


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


def command_word(argv: list[str]) -> str | None:
    """The command of `tuidock [engine flags] COMMAND ...` (`ps` of `-H URL ps -a`), so
    that main builds that command's parser alone (the whole one costs ~30 ms more);
    None when the flags before it are not plainly ours (argparse then reads them all)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _VALUED:
            i += 2
        # --tlsverify, --host=URL, -Hunix:///x: one word
        elif arg == "--tlsverify" or arg.split("=", 1)[0] in _VALUED or arg[:2] in ("-H", "-c"):
            i += 1
        else:
            return None if arg.startswith("-") else arg
    return None


def _plainly_local(args: argparse.Namespace | None) -> bool:
    """No flag, no environment and no current context say otherwise (a stat at most)."""
    if any(getattr(args, f"global_{f}", None) for f in _FLAGS):
        return False
    if os.environ.get(_HOST_ENV):
        return False
    context = os.environ.get(_CONTEXT_ENV, "").strip()
    if context:
        return context == _LOCAL
    return not os.path.exists(os.path.join(_config_dir(), _CURRENT_FILE))


def _config_dir() -> str:
    """paths.config_dir() as a str, without pathlib and platformdirs (~7 ms of an
    `exec` otherwise): $TUIDOCK_CONFIG, else platformdirs' Linux rule."""
    env = os.environ.get("TUIDOCK_CONFIG")
    if env:
        return env
    base = os.environ.get("XDG_CONFIG_HOME", "").strip() or os.path.expanduser("~/.config")
    return os.path.join(base, "tuidock")


def chosen_endpoint(args: argparse.Namespace | None) -> Endpoint:
    """The engine this call talks to (see backends/contexts.py for the order)."""
    from tuidock.backends.endpoint import Endpoint

    if _plainly_local(args):
        return Endpoint()
    from tuidock.backends.contexts import resolve, tls_from_files
    from tuidock.runtime.store import paths

    host, context, verify, ca, cert, key = (getattr(args, f"global_{f}", None) for f in _FLAGS)
    tls = tls_from_files(bool(verify), ca, cert, key)
    return resolve(paths.config_dir(), host, context, tls)


def _unix_url(host: str) -> str | None:
    """parse_host's unix rule (an absolute path, the scheme in any case), else None."""
    scheme, sep, rest = host.strip().partition("://")
    if sep and scheme.lower() == "unix" and rest.startswith("/"):
        return f"unix://{rest}"
    return None


def _context_unix(name: str) -> str | None:
    """The unix:// host of the created context `name` when its file is plainly one (a
    regular file, a JSON object, a unix Host, no TLS); None sends the caller to
    contexts.py, which reads the same file and words any error."""
    import json
    import re
    import stat

    if name == _LOCAL or not re.match(_NAME_RE, name):
        return None
    path = os.path.join(_config_dir(), "contexts", f"{name}.json")
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _CONTEXT_MAX:
            return None
        with open(path, "rb") as f:
            doc = json.loads(f.read(_CONTEXT_MAX))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("TLS") is not None:
        return None
    host = doc.get("Host")
    return _unix_url(host) if isinstance(host, str) else None


def _current_name() -> str:
    """The name `context use` recorded ("" when none or unreadable)."""
    import stat

    path = os.path.join(_config_dir(), _CURRENT_FILE)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the open
            return ""
        with open(path, "rb") as f:
            return f.read(4096).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def lean_unix_host(args: argparse.Namespace | None) -> str | None:
    """The unix:// URL this call drives when it needs nothing resolved, or None.

    contexts.resolve's order (-H, --context, $TUIDOCK_HOST, $TUIDOCK_CONTEXT,
    the current context) read with string checks and, for a context, one small
    JSON file; anything not plainly a unix:// host (tcp://, ssh://, TLS, a
    discovered context, a broken file, -H with --context) is left to resolve
    and its errors.
    """
    host = getattr(args, "global_host", None)
    context = getattr(args, "global_context", None)
    if host and context:
        return None
    if host:
        return _unix_url(host)
    if context:
        return _context_unix(context)
    env_host = os.environ.get(_HOST_ENV, "").strip()
    if env_host:
        return _unix_url(env_host)
    return _context_unix(os.environ.get(_CONTEXT_ENV, "").strip() or _current_name())


def remote_endpoint(args: argparse.Namespace | None) -> Endpoint | str | None:
    """The Docker/Podman engine this call drives, or None for tuidock's own; a
    plain unix:// host comes as its URL alone (`lean_unix_host`)."""
    if _plainly_local(args):
        return None
    lean = lean_unix_host(args)
    if lean is not None:
        return lean
    endpoint = chosen_endpoint(args)
    return None if endpoint.is_local else endpoint
