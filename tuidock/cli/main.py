"""The docker-style command line: `tuidock pull`, `images`, `rmi`, ...

Commands are small functions over the Engine. Heavy modules (requests,
rich, Textual) are imported only by the commands that need them, so that
`tuidock images` starts fast.
"""

from __future__ import annotations

import gc
import os
import sys

from tuidock import __version__
from tuidock.core import trace
from tuidock.errors import TuidockError, UsageError, report

TYPE_CHECKING = False  # typing itself costs ~2 ms of a CLI start
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    Handler = Callable[[argparse.Namespace], int]

VERSION_FLAGS = (["--version"], ["-v"])


def _parser_class() -> type[argparse.ArgumentParser]:
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise UsageError(f"{self.prog}: {message}", f"See '{self.prog} --help'.")

    return _Parser


# `tuidock --help` lists the commands in this order: (module under cli/commands, names).
HELP_ORDER = (
    ("build", ("build",)),
    ("image", ("pull", "push", "images", "rmi", "tag", "inspect", "login", "logout", "image")),
    ("container", ("run", "create", "start", "stop", "restart", "kill", "rm", "wait")),
    ("container", ("logs", "ps", "rename", "pause", "unpause", "top", "attach", "port")),
    ("container", ("container",)),
    ("exec", ("exec",)),
    ("system", ("version", "demo")),
    ("container", ("stats", "diff", "export")),
    ("image", ("import",)),
    ("container", ("commit", "cp")),
    ("system", ("info", "system")),
    ("image", ("save", "load")),
    ("volume", ("volume",)),
    ("network", ("network",)),
    ("image", ("history",)),
    ("system", ("events",)),
    ("context", ("context",)),
)

# Commands that never talk to an engine: any endpoint will do.
CLIENT_ONLY = frozenset({"context", "completion", "login", "logout"})


COMMAND_NAMES = frozenset(name for _, names in HELP_ORDER for name in names)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only`, just that command under `tuidock`.

    A call runs one command: adding the ~50 others costs ~5 ms of argparse
    and the import of their modules, for nothing but `--help` and typos.
    """
    from importlib import import_module

    from tuidock.cli.endpoints import global_endpoint_args

    parser_class = _parser_class()
    parser = parser_class(
        prog="tuidock",
        description="A daemonless container engine with a keyboard-first terminal UI.",
    )
    parser.add_argument("-v", "--version", action="version", version=f"tuidock {__version__}")
    global_endpoint_args(parser)
    # Not "command": `run IMAGE COMMAND` has a positional of that name.
    sub = parser.add_subparsers(dest="top_command", metavar="COMMAND", parser_class=parser_class)
    for module, names in HELP_ORDER:
        if only is not None and only not in names:
            continue
        adders = import_module(f"tuidock.cli.commands.{module}").COMMANDS
        for name in names:
            if only is None or name == only:
                adders[name](sub, name)
    if only is None:
        from tuidock.cli import completion

        completion.register(sub)
    return parser


def _run_ui(args: argparse.Namespace | None) -> int:
    # Textual is imported only here, so every other command stays as fast as before.
    from tuidock.app import run as run_app
    from tuidock.backends.endpoint import CONTEXT_ENV, HOST_ENV, LOCAL
    from tuidock.backends.select import open_backend
    from tuidock.cli.endpoints import chosen_endpoint
    from tuidock.runtime.store import paths

    endpoint = chosen_endpoint(args)
    # The UI's child processes (the local backend's `tuidock exec -it` in the
    # shell pane) drive the embedded engine, whichever engine the UI shows.
    os.environ.pop(HOST_ENV, None)
    os.environ[CONTEXT_ENV] = LOCAL
    return run_app(open_backend(endpoint), paths.config_dir(), endpoint)


def main(argv: list[str] | None = None) -> int:
    trace.mark("cli: imported")
    argv = sys.argv[1:] if argv is None else argv
    try:
        if not argv:  # no arguments: the UI
            return _run_ui(None)
        if argv[0] == "exec":  # hot path: no other command's parser is built
            from tuidock.cli.endpoints import remote_endpoint

            if remote_endpoint(None) is None:
                from tuidock.cli.commands.exec import main as exec_main

                return exec_main(argv[1:])
        if argv in VERSION_FLAGS:  # argparse's action="version" output, without argparse
            print(f"tuidock {__version__}")
            return 0
        if argv[0] == "__complete":  # shell completion asks for names: no parser at all
            from tuidock.cli.completion import complete_main

            return complete_main(argv[1:])
        # The command word after any engine flags (-H URL ps): its parser alone.
        word = argv[0]
        if word.startswith("-"):
            from tuidock.cli.endpoints import command_word

            word = command_word(argv)
            if word == "exec":  # -H unix://... exec: no parser at all (cli/remote/exec.py)
                from tuidock.cli.remote.exec import lean_main

                code = lean_main(argv)
                if code is not None:
                    return code
        parser = build_parser(word if word in COMMAND_NAMES else None)
        args = parser.parse_args(argv)
        trace.mark("cli: parsed")
        if not gc.isenabled():
            # __main__ kept the GC off while modules loaded; the objects made so
            # far live as long as the process: freeze them, collect what comes.
            gc.freeze()
            gc.enable()
        if args.top_command is None:  # only global flags (-H, --context): the UI
            return _run_ui(args)
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:
            (getattr(args, "subparser", None) or parser).print_help()
            return 0
        if args.top_command not in CLIENT_ONLY:
            from tuidock.cli.endpoints import remote_endpoint

            endpoint = remote_endpoint(args)
            if endpoint is not None:
                from tuidock.cli.remote import dispatch

                return dispatch(args, endpoint)
        return handler(args)
    except TuidockError as exc:
        return report(exc)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if os.environ.get("TUIDOCK_DEBUG"):
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"Error: {exc.strerror or exc}{where}", file=sys.stderr)
        if exc.errno in (1, 13):
            print("tuidock needs root for this; run it with sudo.", file=sys.stderr)
        return 1
    except Exception as exc:
        if os.environ.get("TUIDOCK_DEBUG"):
            raise
        print(f"Error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("This is a bug in tuidock; TUIDOCK_DEBUG=1 shows the traceback.", file=sys.stderr)
        return 1
