"""What every prune command shares: its --filter flag and Docker's confirmation prompt."""

from __future__ import annotations

import argparse
import sys

from tuidock.errors import UsageError


def add_prune_filter_arg(p: argparse.ArgumentParser, example: str = "until=24h") -> None:
    """The --filter of every prune command (see core/prunefilter.py)."""
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="FILTER",
        help=f"Provide filter values (e.g. {example})",
    )


def confirm(what: str | list[str], force: bool) -> bool:
    """Docker's prune prompt (one thing, or a list of them); without a terminal, -f is required."""
    if force:
        return True
    listed = what if isinstance(what, str) else ", ".join(what)
    if not sys.stdin.isatty():
        raise UsageError(
            f"this will remove {listed}; confirmation needs a terminal",
            "Add -f to prune without a prompt.",
        )
    if isinstance(what, str):
        warning = f"WARNING! This will remove {what}.\n"
    else:
        warning = "WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in what) + "\n"
    answer = input(warning + "Are you sure you want to continue? [y/N] ")
    return answer.strip().lower() in ("y", "yes")
