"""ps, `container inspect`, top, stats, diff and port on a Docker/Podman engine.

Each asks the Engine API once (stats: once per container and second) and
prints through the local commands' formatters (cli/commands/container_views.py),
so columns, widths and --format fields are the same whichever engine answers.
The engine's own texts are kept where the docker CLI keeps them: ps's STATUS
("Up 3 seconds", "Exited (0) 2 minutes ago") is the API's `Status` verbatim.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from tuidock.cli.commands.container_views import (
    PS_FIELDS,
    _ps_filters,
    print_ps,
    ps_command,
    show_stats,
    stats_format,
)
from tuidock.cli.remote._shared import get_only
from tuidock.errors import NotFound, TuidockError, UsageError

# ps runs on the lean path (backends/unixget.py): typing stays out of this module.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuidock.backends.docker import DockerBackend
    from tuidock.cli.remote._shared import Reader


# -- ps -----------------------------------------------------------------------------------


def _join_host_port(ip: str, port: object) -> str:
    """Go's net.JoinHostPort: an IPv6 address in brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def displayable_ports(ports: list[dict] | None) -> str:
    """The docker CLI's PORTS cell: consecutive ports grouped into ranges, per IP and
    protocol ("0.0.0.0:8080-8081->8080-8081/tcp"), mappings to another port apart."""
    ports = sorted(
        ports or [],
        key=lambda p: (
            int(p.get("PrivatePort") or 0),
            p.get("IP") or "",
            int(p.get("PublicPort") or 0),
            p.get("Type") or "",
        ),
    )
    groups: dict[tuple[str, str], list[int]] = {}  # (ip, proto) -> [first, last]
    result: list[str] = []
    mappings: list[str] = []

    def form(ip: str, proto: str, first: int, last: int) -> str:
        text = str(first) if first == last else f"{first}-{last}"
        if ip:
            text = f"{_join_host_port(ip, text)}->{text}"
        return f"{text}/{proto}"

    for p in ports:
        private, public = int(p.get("PrivatePort") or 0), int(p.get("PublicPort") or 0)
        proto, ip = p.get("Type") or "tcp", p.get("IP") or ""
        if ip and public != private:
            mappings.append(f"{_join_host_port(ip, public)}->{private}/{proto}")
            continue
        group = groups.get((ip, proto))
        if group is None:
            groups[(ip, proto)] = [private, private]
        elif private == group[1] + 1:
            group[1] = private
        else:
            result.append(form(ip, proto, *group))
            groups[(ip, proto)] = [private, private]
    result += [form(ip, proto, *g) for (ip, proto), g in groups.items()]
    return ", ".join(result + mappings)


def _ps_row(c: dict, no_trunc: bool) -> dict:
    """A `_ps_row`-shaped dict of one entry of the API's container list."""
    from tuidock.core.humanize import human_duration, human_size

    created = int(c.get("Created") or 0)
    cid = str(c.get("Id") or "")
    image = str(c.get("Image") or "")
    if image.startswith("sha256:") and not no_trunc:
        image = image[7:19]
    names = [n.lstrip("/") for n in c.get("Names") or []]
    # Without --no-trunc the docker CLI hides legacy link names (those with a slash).
    shown = names if no_trunc else [n for n in names if "/" not in n][:1]
    # The docker CLI's Size(): the zero value "0B" when the engine did not measure (no -s).
    rw, root = int(c.get("SizeRw") or 0), int(c.get("SizeRootFs") or 0)
    size = f"{human_size(rw)} (virtual {human_size(root)})" if root > 0 else human_size(rw)
    mounts = [str(m.get("Name") or m.get("Source") or "") for m in c.get("Mounts") or []]
    networks = ((c.get("NetworkSettings") or {}).get("Networks")) or {}
    labels = c.get("Labels") or {}
    return {
        "Command": ps_command(str(c.get("Command") or ""), no_trunc),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(created)),
        "ID": cid if no_trunc else cid[:12],
        "Image": image,
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Driver") == "local")),
        "Mounts": ",".join(m if no_trunc else m[:15] for m in mounts),
        "Names": ",".join(shown),
        "Networks": ",".join(sorted(networks)),
        "Ports": displayable_ports(c.get("Ports")),
        "RunningFor": human_duration(time.time() - created) + " ago",
        "Size": size,
        "State": str(c.get("State") or ""),
        "Status": str(c.get("Status") or ""),
    }


def ps_query(args: argparse.Namespace, filters: dict[str, list[str]], limit: int) -> dict:
    """The query of GET /containers/json, as the SDK's `containers()` sends it."""
    import json

    query: dict[str, object] = {
        "limit": limit,
        "all": 1 if args.all or limit > 0 else 0,
        "size": 1 if args.size else 0,
        "trunc_cmd": 0,
    }
    if filters:
        query["filters"] = json.dumps(filters)
    return query


@get_only
def cmd_ps(args: argparse.Namespace, reader: Reader) -> int:
    filters = _ps_filters(args.filter)
    if args.format and args.format != "json":
        from tuidock.cli.output import check_template

        body = args.format.removeprefix("table").removeprefix(" ")
        check_template(body, PS_FIELDS)
    limit = 1 if args.latest else args.last if args.last is not None else -1
    if args.last is not None and args.last <= 0 and not args.latest:
        limit = -1 if args.last < 0 else 0
    rows = reader.get("/containers/json", ps_query(args, filters, limit)) or []
    if limit == 0:
        rows = []
    # Docker lists newest first; Podman's compat list does not promise it.
    rows.sort(key=lambda c: -int(c.get("Created") or 0))
    print_ps(args, [_ps_row(c, args.no_trunc) for c in rows], size=args.size)
    return 0


# -- inspect -------------------------------------------------------------------------------


def cmd_inspect_containers(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.cli.output import print_inspect

    api = backend.api()
    out, errors = [], []
    for name in args.names:
        try:
            out.append(backend._call(api.inspect_container, name))
        except NotFound:
            # The docker CLI's own wording on a 404, for Docker and Podman alike.
            errors.append(f"No such container: {name}")
    return print_inspect(out, errors, args.format)


# -- top -------------------------------------------------------------------------------------


def cmd_top(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.backends.docker import split_top
    from tuidock.cli.output import print_table

    ps_args = " ".join(args.ps_args) or None
    res = backend._call(backend.api().top, args.container, ps_args)
    header, rows = split_top(list(res.get("Titles") or []), list(res.get("Processes") or []))
    print_table(header, [r + [""] * (len(header) - len(r)) for r in rows])
    return 0


# -- stats ----------------------------------------------------------------------------------


class _Sampler:
    """One one-shot stats request per container and call (on a few threads); CPU %
    against the counters of the previous call, by docker's formula."""

    def __init__(self, backend: DockerBackend, args: argparse.Namespace) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.backend = backend
        self.args = args
        self.fixed: list[tuple[str, str]] | None = None
        self.prev: dict[str, tuple[int, int, float]] = {}
        self.pool = ThreadPoolExecutor(4, thread_name_prefix="stats")
        self.podman = backend.is_podman
        if args.containers:
            # Named containers are resolved up front: an unknown one fails before
            # anything is drawn, as with docker.
            api = backend.api()
            self.fixed = []
            for ref in args.containers:
                try:
                    info = backend._call(api.inspect_container, ref)
                except NotFound:
                    raise NotFound(f"No such container: {ref}") from None
                self.fixed.append((info["Id"], str(info.get("Name") or "").lstrip("/")))

    def targets(self) -> list[tuple[str, str]]:
        if self.fixed is not None:
            return self.fixed
        api = self.backend.api()
        rows = self.backend._call(api.containers, all=self.args.all)
        rows.sort(key=lambda c: -int(c.get("Created") or 0))
        return [(c["Id"], (c.get("Names") or ["/"])[0].lstrip("/")) for c in rows]

    def _one(self, target: tuple[str, str]) -> dict[str, str]:
        import docker.errors

        from tuidock.backends.docker import cpu_percent, memory_usage
        from tuidock.runtime.container.stats import StatsRow

        cid, name = target
        row = StatsRow(cid, name)
        try:
            s = self.backend.api().stats(cid, stream=False, one_shot=True)
        except docker.errors.APIError:
            s = {}  # stopped or removed meanwhile: a row of zeros, as docker's
        mem = s.get("memory_stats") or {}
        if mem:
            row.cpu_percent, self.prev[cid] = cpu_percent(
                s, self.prev.get(cid), time.monotonic(), self.podman
            )
            row.memory_usage, row.memory_limit = memory_usage(mem), int(mem.get("limit") or 0)
            for net in (s.get("networks") or {}).values():
                row.net_rx += int(net.get("rx_bytes") or 0)
                row.net_tx += int(net.get("tx_bytes") or 0)
            blkio = (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
            for entry in blkio:
                op = str(entry.get("op") or "").lower()
                if op == "read":
                    row.block_read += int(entry.get("value") or 0)
                elif op == "write":
                    row.block_write += int(entry.get("value") or 0)
            row.pids = int((s.get("pids_stats") or {}).get("current") or 0)
        cells = row.cells()
        if self.args.no_trunc:
            cells["ID"] = cells["Container"] = cid
        return cells

    def __call__(self) -> list[dict[str, str]]:
        targets = self.targets()
        for gone in set(self.prev) - {cid for cid, _ in targets}:
            del self.prev[gone]
        from tuidock.backends.docker import api_errors

        with api_errors(self.backend.location):
            return list(self.pool.map(self._one, targets))


def cmd_stats(args: argparse.Namespace, backend: DockerBackend) -> int:
    fmt = stats_format(args)
    sampler = _Sampler(backend, args)
    try:
        return show_stats(fmt, sampler, args.no_stream)
    finally:
        sampler.pool.shutdown(wait=False, cancel_futures=True)


# -- diff and port ------------------------------------------------------------------------


_KINDS = {0: "C", 1: "A", 2: "D"}


def cmd_diff(args: argparse.Namespace, backend: DockerBackend) -> int:
    changes = backend._call(backend.api().diff, args.container) or []  # Podman: null if none
    for change in changes:
        print(f"{_KINDS.get(change.get('Kind'), '?')} {change.get('Path')}")
    return 0


def _natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def cmd_port(args: argparse.Namespace, backend: DockerBackend) -> int:
    """`docker port`'s lines: "80/tcp -> 0.0.0.0:8080", or the host addresses of one port."""
    info = backend._call(backend.api().inspect_container, args.container)
    published = (info.get("NetworkSettings") or {}).get("Ports") or {}
    out: list[str] = []
    if args.private_port:
        port, _, proto = args.private_port.partition("/")
        if not port.isdigit() or int(port) > 65535:
            raise UsageError(f"invalid port ({port})")
        frontends = published.get(f"{port}/{proto or 'tcp'}")
        if not frontends:
            raise TuidockError(
                f"No public port '{args.private_port}' published for {args.container}"
            )
        out = [_join_host_port(f.get("HostIp") or "", f.get("HostPort")) for f in frontends]
    else:
        for private, frontends in published.items():
            for f in frontends or []:
                host = _join_host_port(f.get("HostIp") or "", f.get("HostPort"))
                out.append(f"{private} -> {host}")
    out.sort(key=_natural_key)
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    return 0
