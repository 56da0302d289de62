"""Subparsers whose arguments are added only when that command is used.

Building every command's parser costs ~20 ms of argparse and gettext work
per CLI call; a call needs only its own command's.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

_lazy_classes: dict[type, type] = {}


def lazy_parser(
    sub: argparse._SubParsersAction,
    name: str,
    help: str | None,
    build: Callable[[argparse.ArgumentParser], None],
    **kw,
) -> argparse.ArgumentParser:
    if help is not None:
        kw["help"] = help  # without one, argparse leaves the name out of the command list
    p = sub.add_parser(name, **kw)
    base = type(p)
    cls = _lazy_classes.get(base)
    if cls is None:

        class Lazy(base):  # type: ignore[valid-type,misc]
            def _populate(self) -> None:
                # Popped, so parsers of this class made by the builder itself
                # (subcommands) are not built a second time.
                pending = self.__dict__.pop("_lazy_build", None)
                if pending is not None:
                    pending(self)

            def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
                self._populate()
                return super().parse_known_args(args, namespace)

            def format_help(self) -> str:
                self._populate()
                return super().format_help()

            def format_usage(self) -> str:
                self._populate()
                return super().format_usage()

        cls = _lazy_classes[base] = Lazy
    p.__class__ = cls
    p._lazy_build = build  # type: ignore[attr-defined]
    return p


Adder = Callable[[argparse._SubParsersAction, str], object]


def lazy_command(help: str | None, build: Callable[[argparse.ArgumentParser], None], **kw) -> Adder:
    """A `COMMANDS` entry of a command module: adds the named command, built when used."""
    return lambda sub, name: lazy_parser(sub, name, help, build, **kw)
