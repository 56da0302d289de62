"""`tuidock exec [OPTIONS] CONTAINER COMMAND [ARG...]`, as `docker exec`.

Options are parsed by hand, the way Docker's flag library does for exec:
they end at the first argument that is not an option (the container), so
`exec c ls -l` passes `-l` to ls. This module is the whole CLI of the
command and is light on purpose: `python -m tuidock exec` reaches it
without building the other commands' parsers (see tuidock/__main__.py).

Exit codes, as Docker's: the command's own, 126 when it cannot be run,
127 when it is not found, 125 when tuidock failed (no such container, not
running, a bad option).
"""

from __future__ import annotations

import gc
import os
import sys

from tuidock.errors import TuidockError, UsageError, report

USAGE = """\
Usage:  tuidock exec [OPTIONS] CONTAINER COMMAND [ARG...]

Execute a command in a running container

Options:
  -d, --detach               Detached mode: run command in the background
      --detach-keys string   Override the key sequence for detaching a container
                             (Docker/Podman engines; tuidock's own exec sessions
                             cannot be detached)
  -e, --env list             Set environment variables
      --env-file list        Read in a file of environment variables
  -i, --interactive          Keep STDIN open even if not attached
      --privileged           Give extended privileges to the command
  -t, --tty                  Allocate a pseudo-TTY
  -u, --user string          Username or UID (format: "<name|uid>[:<group|gid>]")
  -w, --workdir string       Working directory inside the container
"""

_BOOLS = {"d": "detach", "i": "interactive", "t": "tty", "privileged": "privileged"}
_BOOLS.update({"detach": "detach", "interactive": "interactive", "tty": "tty"})
_VALUES = {"e": "env", "u": "user", "w": "workdir"}
_VALUES.update({"env": "env", "env-file": "env_file", "user": "user", "workdir": "workdir"})
_VALUES["detach-keys"] = "detach_keys"
_LISTS = frozenset({"env", "env_file"})
_SEE = "See 'tuidock exec --help'."


class ExecArgs:
    """The parsed command line."""

    def __init__(self) -> None:
        self.detach = False
        self.interactive = False
        self.tty = False
        self.privileged = False
        self.env: list[str] = []
        self.env_file: list[str] = []
        self.user: str | None = None
        self.workdir: str | None = None
        self.detach_keys: str | None = None
        self.help = False
        self.container = ""
        self.command: list[str] = []


def _bool(text: str, flag: str) -> bool:
    low = text.lower()
    if low in ("1", "t", "true"):
        return True
    if low in ("0", "f", "false"):
        return False
    raise UsageError(f'invalid argument "{text}" for "{flag}" flag: invalid syntax', _SEE)


def _set(args: ExecArgs, dest: str, value: str) -> None:
    if dest in _LISTS:
        getattr(args, dest).append(value)
    else:
        setattr(args, dest, value)


def parse(argv: list[str]) -> ExecArgs:
    args = ExecArgs()
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            break
        if arg in ("-h", "--help"):
            args.help = True
            return args
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            if name in _BOOLS:
                setattr(args, _BOOLS[name], _bool(value, f"--{name}") if eq else True)
            elif name in _VALUES:
                if not eq:
                    if i >= len(argv):
                        raise UsageError(f"flag needs an argument: --{name}", _SEE)
                    value = argv[i]
                    i += 1
                _set(args, _VALUES[name], value)
            else:
                raise UsageError(f"unknown flag: --{name}", _SEE)
            continue
        if arg.startswith("-") and len(arg) > 1:
            # Clustered shorthands (-it, -ite FOO=1, -eFOO=1, -e=FOO=1).
            j = 1
            while j < len(arg):
                ch = arg[j]
                j += 1
                if ch in ("d", "i", "t"):
                    setattr(args, _BOOLS[ch], True)
                elif ch in _VALUES:
                    value = arg[j:]
                    if value.startswith("="):
                        value = value[1:]
                    elif not value:
                        if i >= len(argv):
                            raise UsageError(f"flag needs an argument: '{ch}' in -{ch}", _SEE)
                        value = argv[i]
                        i += 1
                    _set(args, _VALUES[ch], value)
                    break
                else:
                    raise UsageError(f"unknown shorthand flag: '{ch}' in {arg}", _SEE)
            continue
        i -= 1
        break
    rest = argv[i:]
    if len(rest) < 2:
        raise UsageError(
            '"tuidock exec" requires at least 2 arguments.',
            "See 'tuidock exec --help'.\n\nUsage:  tuidock exec [OPTIONS] CONTAINER COMMAND [ARG...]",
        )
    args.container, args.command = rest[0], rest[1:]
    if args.workdir is not None:
        from tuidock.runtime.container.options import check_workdir

        check_workdir(args.workdir)
    return args


def main(argv: list[str]) -> int:
    """Run `tuidock exec` with `argv` (what follows "exec"); returns the exit code."""
    if not gc.isenabled():
        # __main__ kept the collector off while modules loaded; an -it
        # session may run for hours: collect from here on.
        gc.freeze()
        gc.enable()
    try:
        args = parse(argv)
        if args.help:
            sys.stdout.write(USAGE)
            return 0
        from tuidock.runtime.linux import cgroupfiles

        # First of all (it imports nothing): its grace period runs while
        # the rest of exec loads.
        warm = cgroupfiles.prewarm()
        try:
            from tuidock.runtime.container.exec.client import exec_in
        except BaseException:
            cgroupfiles.wait(warm)
            raise
        return exec_in(
            args.container,
            args.command,
            env=args.env,
            env_files=args.env_file,
            user=args.user,
            cwd=args.workdir,
            tty=args.tty,
            interactive=args.interactive,
            privileged=args.privileged,
            detach=args.detach,
            prewarm=warm,
        )
    except TuidockError as exc:
        return report(exc)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if os.environ.get("TUIDOCK_DEBUG"):
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"Error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 125


def _exec(sub, name: str) -> None:  # sub: argparse._SubParsersAction
    """`exec` in `tuidock --help`; its arguments go to `main` untouched."""
    parser = sub.add_parser(name, help="Execute a command in a running container", add_help=False)
    base = type(parser)

    class Passthrough(base):  # type: ignore[valid-type,misc]
        def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
            import argparse

            ns = namespace if namespace is not None else argparse.Namespace()
            ns.exec_argv = list(args or [])
            ns.handler = lambda parsed: main(parsed.exec_argv)
            return ns, []

        def format_help(self) -> str:
            return USAGE

    parser.__class__ = Passthrough


# The top-level commands of this module, by name (cli/main.py orders them).
COMMANDS = {"exec": _exec}
