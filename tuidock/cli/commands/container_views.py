"""What a container shows without being changed: ps, `container inspect`, top, stats,
diff and port."""

from __future__ import annotations

import argparse
import sys
import time

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
STATS_HEADERS = {
    "ID": "CONTAINER ID",
    "Container": "CONTAINER",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
STATS_TABLE = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t"
    "{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
)
# Docker's daemon samples every second; the CLI redraws at that pace and
# --no-stream waits for a second sample so CPU % has a delta.
STATS_INTERVAL = 1.0


def cmd_top(args: argparse.Namespace) -> int:
    from tuidock.cli.output import print_table
    from tuidock.runtime.engine import default_engine

    header, rows = default_engine().container_top(args.container, args.ps_args or None)
    print_table(header, [r + [""] * (len(header) - len(r)) for r in rows])
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


def ps_command(command: str, no_trunc: bool) -> str:
    """Docker's COMMAND cell: cut to 20 characters with an ellipsis, then quoted."""
    if not no_trunc and len(command) > 20:
        command = command[:19] + "…"
    return go_quote(command)


_GO_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "\v": "\\v", '"': '\\"', "\\": "\\\\",
}  # fmt: skip


def go_quote(text: str) -> str:
    """Go's strconv.Quote, which docker applies to the COMMAND cell: printable
    characters (Go's unicode.IsPrint is Python's str.isprintable) stay as they
    are, the C escapes are used where Go has them, other control characters
    become \\xNN and other unprintable characters \\uNNNN or \\UNNNNNNNN."""
    out = []
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _ps_row(info, no_trunc: bool) -> dict:
    from tuidock.core.humanize import since

    image = info.image
    if image.startswith("sha256:") and not no_trunc:
        image = image[7:19]
    return {
        "Command": ps_command(info.command, no_trunc),
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
    from tuidock.runtime.engine import default_engine

    filters = _ps_filters(args.filter)
    show_all = args.all or args.last is not None or args.latest
    infos = default_engine().list_containers(all=show_all, filters=filters)
    if args.latest:
        infos = infos[:1]
    elif args.last is not None:
        infos = infos[: max(args.last, 0)]
    rows = [_ps_row(i, args.no_trunc) for i in infos]
    print_ps(args, rows)
    return 0


def print_ps(args: argparse.Namespace, rows: list[dict], size: bool = False) -> None:
    """ps's output of `_ps_row`-shaped rows: IDs (-q), --format, or docker's table
    (with SIZE under -s when the engine measured it)."""
    from tuidock.cli.output import print_formatted, print_table

    if args.quiet:
        for row in rows:
            print(row["ID"])
        return
    if args.format:
        print_formatted(args.format, rows, headers=PS_HEADERS, fields=PS_FIELDS)
        return
    headers = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    keys = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"]
    if size:
        headers.append("SIZE")
        keys.append("Size")
    print_table(headers, [[r[k] for k in keys] for r in rows])


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


# -- stats ---------------------------------------------------------------------------------


def cmd_stats(args: argparse.Namespace) -> int:
    from tuidock.runtime.container.stats import StatsCollector
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    fixed: list[tuple[str, str]] | None = None
    if args.containers:
        # Named containers are resolved once, up front: an unknown name is an error
        # before anything is drawn, as in Docker.
        fixed = []
        for ref in args.containers:
            info = engine.container(ref)
            fixed.append((info.id, info.name))

    def targets() -> list[tuple[str, str]]:
        if fixed is not None:
            return fixed
        return [(i.id, i.name) for i in engine.list_containers(all=args.all)]

    fmt = stats_format(args)
    collector = StatsCollector(engine.containers)

    def sample() -> list[dict[str, str]]:
        rows = collector.sample(targets())
        cells = [row.cells() for row in rows]
        if args.no_trunc:
            for row, c in zip(rows, cells, strict=True):
                c["ID"] = c["Container"] = row.id
        return cells

    return show_stats(fmt, sample, args.no_stream)


def stats_format(args: argparse.Namespace) -> str:
    """The --format of `stats` (docker's table by default), refused early when unusable."""
    fmt = args.format or STATS_TABLE
    if fmt != "json" and not fmt.startswith("table") and "{{" not in fmt:
        raise UsageError(f"unsupported --format {fmt!r}", "Use json, table or a template.")
    return fmt


def render_stats(fmt: str, objs: list[dict[str, str]]) -> str:
    """One frame of `stats`: rows of `StatsRow.cells()` fields by `fmt`."""
    import io

    from tuidock.cli.output import print_formatted

    buf = io.StringIO()
    if fmt.startswith("table") and not objs:
        print_formatted(fmt, [dict.fromkeys(STATS_HEADERS, "")], buf, STATS_HEADERS)
        return buf.getvalue().splitlines(keepends=True)[0]
    print_formatted(fmt, objs, buf, STATS_HEADERS)
    return buf.getvalue()


def show_stats(fmt: str, sample, no_stream: bool) -> int:
    """Print `sample()`'s rows once a second apart (--no-stream: the second sample, so
    CPU % has a delta) or live until Ctrl-C, redrawn in place on a terminal as Docker."""
    if no_stream:
        sample()
        time.sleep(STATS_INTERVAL)
        sys.stdout.write(render_stats(fmt, sample()))
        return 0

    tty = sys.stdout.isatty()
    try:
        if tty:
            sys.stdout.write("\033[2J")  # clear once; each frame then redraws from the top
        sample()
        while True:
            time.sleep(STATS_INTERVAL)
            text = render_stats(fmt, sample())
            if tty:
                # Home, each line cleared to its end, then the rest of the screen:
                # no flicker, and rows of containers that went away disappear.
                lines = text.splitlines()
                sys.stdout.write("\033[H" + "".join(f"{ln}\033[K\n" for ln in lines) + "\033[J")
            else:
                sys.stdout.write(text)
            sys.stdout.flush()
    except KeyboardInterrupt:
        # Ctrl-C is how a live `stats` ends: not an error.
        sys.stdout.write("\n" if tty else "")
        return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from tuidock.runtime.container import fs as ctrfs
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    cid = engine.containers.resolve(args.container)
    for kind, path in ctrfs.container_changes(ctrfs.ContainerLayers.of(engine.containers, cid)):
        print(f"{kind} {path}")
    return 0


# -- port ---------------------------------------------------------------------------------


def cmd_port(args: argparse.Namespace) -> int:
    """`port`: the published ports of a running container, as `docker port` prints them."""
    from tuidock.core.status import ContainerStatus
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.network import endpoint
    from tuidock.runtime.network.ports import format_port

    engine = default_engine()
    cid = engine.containers.resolve(args.container)
    ep = endpoint.load(engine.containers.store.path(cid)) or {}
    if not ContainerStatus.of(engine.containers.store.state(cid)).is_active:
        ep = {}  # the proxy is gone: nothing is published
    want = args.private_port
    if want and "/" not in want:
        want += "/tcp"
    shown = 0
    for p in ep.get("Ports") or []:
        if not p.get("host_port"):
            continue  # an ephemeral port not bound yet: the container is not running
        if want and want != f"{p['container_port']}/{p['protocol']}":
            continue
        ip = p["host_ip"] or "0.0.0.0"
        print(f"{ip}:{p['host_port']}" if want else format_port(p))
        shown += 1
    if want and not shown:
        raise TuidockError(f"No public port '{want}' published for {args.container}")
    return 0
