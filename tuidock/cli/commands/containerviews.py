"""Read-only container commands: ps, logs, top and `container inspect`."""

from __future__ import annotations

import argparse
import sys

from tuidock.errors import TuidockError, UsageError

PS_HEADERS = {
    "ID": "CONTAINER ID",
    "RunningFor": "CREATED",
    "CreatedAt": "CREATED AT",
}
# The fields of a `ps` row (`_ps_row`), which --format may name.
PS_FIELDS = (
    "Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts", "Names",
    "Networks", "Ports", "RunningFor", "Size", "State", "Status",
)  # fmt: skip


def cmd_top(args: argparse.Namespace) -> int:
    from tuidock.cli.output import print_table
    from tuidock.runtime.engine import default_engine

    header, rows = default_engine().container_top(args.container, args.ps_args or None)
    print_table(header, [r + [""] * (len(header) - len(r)) for r in rows])
    return 0


# -- logs ------------------------------------------------------------------------------------


def parse_since(text: str, now: float | None = None) -> float:
    """Docker's --since/--until: RFC 3339, a Unix timestamp, or a Go duration ago (10m, 1h30m)."""
    import re
    import time

    from tuidock.core.humanize import parse_time

    text = text.strip()
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if parts and "".join(n + u for n, u in parts) == text:
        return (now or time.time()) - sum(float(n) * units[u] for n, u in parts)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    ts = parse_time(text)
    if ts is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        ts = parse_time(text + "T00:00:00Z")
    if ts is None:
        raise UsageError(
            f"invalid time value: {text!r}", "Use RFC 3339 (2024-01-02T15:04:05Z) or 10m."
        )
    return ts


def cmd_logs(args: argparse.Namespace) -> int:
    import os

    from tuidock.runtime.engine import default_engine

    if args.tail in ("all", ""):
        tail = None
    else:
        try:
            tail = int(args.tail)
        except ValueError:
            raise UsageError(f"invalid --tail value: {args.tail!r}") from None
        tail = None if tail < 0 else tail
    since = parse_since(args.since) if args.since else None
    until = parse_since(args.until) if args.until else None
    engine = default_engine()
    out, err = sys.stdout.fileno(), sys.stderr.fileno()
    sys.stdout.flush()
    for entry in engine.container_logs(
        args.container, follow=args.follow, tail=tail, since=since, until=until
    ):
        data = entry.data
        if args.timestamps:
            data = entry.time.encode() + b" " + data
        fd = err if entry.stream == "stderr" else out
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    return 0


# -- ps ------------------------------------------------------------------------------------------


def _ps_filters(items: list[str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"bad format of filter (expected name=value): {item}")
        if key not in ("status", "name", "label", "id", "ancestor", "exited"):
            raise UsageError(f"invalid filter '{key}'")
        filters.setdefault(key, []).append(value)
    return filters


def _created_at(text: str) -> str:
    """Docker's CreatedAt: "2006-01-02 15:04:05 -0700 MST"."""
    from datetime import UTC, datetime

    from tuidock.core.humanize import parse_time

    ts = parse_time(text)
    if ts is None:
        return text
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def _ps_row(info, no_trunc: bool) -> dict:
    import json

    from tuidock.core.humanize import since

    command = info.command
    if not no_trunc and len(command) > 20:
        command = command[:19] + "…"
    image = info.image
    if image.startswith("sha256:") and not no_trunc:
        image = image[7:19]
    return {
        "Command": json.dumps(command, ensure_ascii=False),
        "CreatedAt": _created_at(info.created),
        "ID": info.id if no_trunc else info.id[:12],
        "Image": image,
        "Labels": ",".join(f"{k}={v}" for k, v in info.labels.items()),
        "LocalVolumes": "0",
        "Mounts": "",
        "Names": info.name,
        "Networks": info.network,
        "Ports": info.ports,
        "RunningFor": since(info.created),
        "Size": "N/A",
        "State": info.status,
        "Status": info.status_text(),
    }


def cmd_ps(args: argparse.Namespace) -> int:
    from tuidock.cli.output import print_formatted, print_table
    from tuidock.runtime.engine import default_engine

    filters = _ps_filters(args.filter)
    show_all = args.all or args.last is not None or args.latest
    infos = default_engine().list_containers(all=show_all, filters=filters)
    if args.latest:
        infos = infos[:1]
    elif args.last is not None:
        infos = infos[: max(args.last, 0)]
    rows = [_ps_row(i, args.no_trunc) for i in infos]
    if args.quiet:
        for row in rows:
            print(row["ID"])
        return 0
    if args.format:
        print_formatted(args.format, rows, headers=PS_HEADERS, fields=PS_FIELDS)
        return 0
    headers = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    print_table(
        headers,
        [
            [
                r["ID"],
                r["Image"],
                r["Command"],
                r["RunningFor"],
                r["Status"],
                r["Ports"],
                r["Names"],
            ]
            for r in rows
        ],
    )
    return 0


# -- inspect ------------------------------------------------------------------------------------


def cmd_inspect_containers(args: argparse.Namespace) -> int:
    from tuidock.cli.output import print_inspect
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    out, errors = [], []
    for name in args.names:
        try:
            out.append(engine.inspect_container(name))
        except TuidockError as exc:
            errors.append(exc.message)
    return print_inspect(out, errors, args.format)
