"""`tuidock history IMAGE` (and `image history`): the build steps and their layer sizes."""

from __future__ import annotations

import argparse

from tuidock.cli.output import print_formatted, print_table
from tuidock.core.humanize import human_size, since

CREATED_BY_WIDTH = 45  # Docker's truncation of the CREATED BY column


def add_history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument(
        "-H",
        "--human",
        default="true",
        choices=["true", "false"],
        help="Print sizes and dates in human readable format (default true)",
    )
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--format", help="Format output using a custom template (json, table, ...)")
    p.set_defaults(handler=cmd_history)


def register(sub: argparse._SubParsersAction) -> None:
    add_history_args(sub.add_parser("history", help="Show the history of an image"))


def _short(image_id: str, no_trunc: bool) -> str:
    if image_id.startswith("sha256:"):
        return image_id if no_trunc else image_id.removeprefix("sha256:")[:12]
    return image_id


def cmd_history(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.image.history import image_history

    rows = image_history(default_engine(), args.image)
    human = args.human == "true"
    if args.quiet:
        for row in rows:
            print(_short(row.id, args.no_trunc))
        return 0
    objs = []
    for row in rows:
        created_by = row.created_by
        if not args.no_trunc and len(created_by) > CREATED_BY_WIDTH:
            created_by = created_by[: CREATED_BY_WIDTH - 1] + "…"
        objs.append(
            {
                "ID": _short(row.id, args.no_trunc),
                "CreatedAt": row.created,
                "CreatedSince": (since(row.created) if row.created else "N/A")
                if human
                else row.created,
                "CreatedBy": created_by,
                "Size": human_size(row.size) if human else str(row.size),
                "Comment": row.comment,
            }
        )
    if args.format:
        print_formatted(
            args.format, objs, headers={"ID": "IMAGE", "CreatedSince": "CREATED"}
        )
        return 0
    print_table(
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        [[o["ID"], o["CreatedSince"], o["CreatedBy"], o["Size"], o["Comment"]] for o in objs],
    )
    return 0
