"""version, info, system df and system prune on a Docker/Podman engine, laid out
as the docker CLI lays them out for that engine.

`version` shows tuidock as the client and the engine's /version as the server
(its components as the engine lists them: Docker's Engine, containerd, runc;
Podman's Podman Engine, Conmon, OCI Runtime, Engine). `info` is docker info's
Server section from /info. `demo` has no namesake: it serves tuidock's own
engine.
"""

from __future__ import annotations

import argparse
import sys

from tuidock import __version__
from tuidock.cli.commands.system import git_commit, print_df, print_section, prune_items
from tuidock.cli.remote._shared import daemon_words

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuidock.backends.docker import DockerBackend

LABEL_WIDTH = 20  # the docker CLI's tabwriter minwidth for version's "Label:\tvalue"


def tabbed(lines: list[str], minwidth: int = LABEL_WIDTH) -> str:
    """Go's tabwriter as `docker version` uses it (minwidth 20, padding 1): the cell
    before a tab padded to the widest in its block of consecutive tabbed lines."""
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        width = max([minwidth] + [len(line.split("\t", 1)[0]) + 1 for line in block])
        out.extend(
            head.ljust(width) + tail for head, _, tail in (line.partition("\t") for line in block)
        )
        block.clear()

    for line in lines:
        if "\t" in line:
            block.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return "\n".join(out)


def _ansic(text: str) -> str:
    """Docker's Built: an RFC 3339 build time as Go's time.ANSIC in local time."""
    import time

    from tuidock.core.humanize import parse_time

    ts = parse_time(text or "")
    if ts is None:
        return text or ""
    t = time.localtime(ts)
    return time.strftime("%a %b ", t) + f"{t.tm_mday:2d}" + time.strftime(" %H:%M:%S %Y", t)


def _client(backend: DockerBackend) -> dict:
    import platform

    commit, built = git_commit()
    machine = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return {
        "Version": __version__,
        "ApiVersion": str(backend.api()._version),
        "PythonVersion": f"{platform.python_implementation()} {platform.python_version()}",
        "GitCommit": commit[:7],
        "BuildTime": built,
        "Os": "linux",
        "Arch": arch,
        "Context": backend.endpoint.name,
    }


def _components(server: dict) -> list[dict]:
    """The server's components; an "Engine" one made from the top-level fields when
    the list lacks it (Podman lists "Podman Engine"), as the docker CLI does."""
    components = list(server.get("Components") or [])
    if not any(c.get("Name") == "Engine" for c in components):
        keys = ("ApiVersion", "MinAPIVersion", "GoVersion", "GitCommit", "BuildTime", "Os",
                "Arch", "Experimental")  # fmt: skip
        details = {k: str(server.get(k, "")) for k in keys}
        details["Experimental"] = str(bool(server.get("Experimental"))).lower()
        components.append(
            {"Name": "Engine", "Version": server.get("Version", ""), "Details": details}
        )
    return components


@daemon_words
def cmd_version(args: argparse.Namespace, backend: DockerBackend) -> int:
    client = _client(backend)
    server = backend._call(lambda: backend.api().version())
    if args.format:
        from tuidock.cli.output import print_formatted

        print_formatted(args.format, [{"Client": client, "Server": server}])
        return 0
    lines = [
        "Client:",
        f" Version:\t{client['Version']}",
        f" API version:\t{client['ApiVersion']}",
        f" Python version:\t{client['PythonVersion']}",
        f" Git commit:\t{client['GitCommit'] or 'unknown'}",
        f" Built:\t{client['BuildTime'] or 'unknown'}",
        f" OS/Arch:\t{client['Os']}/{client['Arch']}",
        f" Context:\t{client['Context']}",
        "",
    ]
    platform_name = (server.get("Platform") or {}).get("Name") or ""
    lines.append("Server:" + (f" {platform_name}" if platform_name else ""))
    for comp in _components(server):
        details = comp.get("Details") or {}
        lines.append(f" {comp.get('Name', '')}:")
        if comp.get("Name") == "Engine":
            lines += [
                f"  Version:\t{comp.get('Version', '')}",
                f"  API version:\t{details.get('ApiVersion', '')} "
                f"(minimum version {details.get('MinAPIVersion', '')})",
                f"  Go version:\t{details.get('GoVersion', '')}",
                f"  Git commit:\t{details.get('GitCommit', '')}",
                f"  Built:\t{_ansic(details.get('BuildTime', ''))}",
                f"  OS/Arch:\t{details.get('Os', '')}/{details.get('Arch', '')}",
                f"  Experimental:\t{details.get('Experimental', '')}",
            ]
            continue
        # Other components: Version, then their details in sorted order, as docker's.
        lines.append(f"  Version:\t{comp.get('Version', '')}")
        lines += [f"  {key}:\t{details[key]}" for key in sorted(details)]
    print(tabbed(lines))
    return 0


def _security_lines(options: list[str]) -> list[str]:
    out = []
    for opt in options:
        pairs = dict(p.split("=", 1) for p in opt.split(",") if "=" in p)
        out.append(f" {pairs.pop('name', opt)}")
        out += [f"  {k.title()}: {v}" for k, v in pairs.items()]
    return out


def info_lines(info: dict) -> list[str]:
    """docker info's Server section, line by line, from the engine's /info."""
    from tuidock.core.humanize import human_binary_size

    plugins = info.get("Plugins") or {}
    lines = [
        f"Containers: {info.get('Containers', 0)}",
        f" Running: {info.get('ContainersRunning', 0)}",
        f" Paused: {info.get('ContainersPaused', 0)}",
        f" Stopped: {info.get('ContainersStopped', 0)}",
        f"Images: {info.get('Images', 0)}",
        f"Server Version: {info.get('ServerVersion', '')}",
        f"Storage Driver: {info.get('Driver', '')}",
    ]
    lines += [f" {k}: {v}" for k, v in info.get("DriverStatus") or []]
    if info.get("LoggingDriver"):
        lines.append(f"Logging Driver: {info['LoggingDriver']}")
    lines.append(f"Cgroup Driver: {info.get('CgroupDriver', '')}")
    if info.get("CgroupVersion"):
        lines.append(f"Cgroup Version: {info['CgroupVersion']}")
    lines.append("Plugins:")
    lines.append(" Volume: " + " ".join(plugins.get("Volume") or []))
    lines.append(" Network: " + " ".join(plugins.get("Network") or []))
    if plugins.get("Authorization"):
        lines.append(" Authorization: " + " ".join(plugins["Authorization"]))
    lines.append(" Log: " + " ".join(plugins.get("Log") or []))
    swarm = (info.get("Swarm") or {}).get("LocalNodeState") or "inactive"
    lines.append(f"Swarm: {swarm}")
    lines.append("Runtimes: " + " ".join(sorted(info.get("Runtimes") or {})))
    lines.append(f"Default Runtime: {info.get('DefaultRuntime', '')}")
    lines.append(f"Init Binary: {info.get('InitBinary', '')}")
    for label, key in (
        ("containerd version", "ContainerdCommit"),
        ("runc version", "RuncCommit"),
        ("init version", "InitCommit"),
    ):
        lines.append(f"{label}: {(info.get(key) or {}).get('ID', '')}")
    if info.get("SecurityOptions"):
        lines.append("Security Options:")
        lines += _security_lines(info["SecurityOptions"])
    lines += [
        f"Kernel Version: {info.get('KernelVersion', '')}",
        f"Operating System: {info.get('OperatingSystem', '')}",
        f"OSType: {info.get('OSType', '')}",
        f"Architecture: {info.get('Architecture', '')}",
        f"CPUs: {info.get('NCPU', 0)}",
        f"Total Memory: {human_binary_size(int(info.get('MemTotal') or 0))}",
        f"Name: {info.get('Name', '')}",
        f"ID: {info.get('ID', '')}",
        f"Docker Root Dir: {info.get('DockerRootDir', '')}",
        f"Debug Mode: {str(bool(info.get('Debug'))).lower()}",
    ]
    for label, key in (("HTTP Proxy", "HttpProxy"), ("HTTPS Proxy", "HttpsProxy"),
                       ("No Proxy", "NoProxy")):  # fmt: skip
        if info.get(key):
            lines.append(f"{label}: {info[key]}")
    if info.get("Labels"):
        lines.append("Labels:")
        lines += [f" {label}" for label in info["Labels"]]
    lines.append(f"Experimental: {str(bool(info.get('ExperimentalBuild'))).lower()}")
    registry = info.get("RegistryConfig") or {}
    insecure = [
        name
        for name, index in (registry.get("IndexConfigs") or {}).items()
        if not index.get("Secure", True)
    ]
    insecure += registry.get("InsecureRegistryCIDRs") or []
    if insecure:
        lines.append("Insecure Registries:")
        lines += [f" {name}" for name in insecure]
    if registry.get("Mirrors"):
        lines.append("Registry Mirrors:")
        lines += [f" {m}" for m in registry["Mirrors"]]
    lines.append(f"Live Restore Enabled: {str(bool(info.get('LiveRestoreEnabled'))).lower()}")
    if info.get("ProductLicense"):
        lines.append(f"Product License: {info['ProductLicense']}")
    return lines


@daemon_words
def cmd_info(args: argparse.Namespace, backend: DockerBackend) -> int:
    info = backend._call(lambda: backend.api().info())
    if args.format:
        from tuidock.cli.output import print_formatted

        client = {"Version": __version__, "Context": backend.endpoint.name, "Debug": False}
        print_formatted(args.format, [{**info, "ClientInfo": client}])
        return 0
    print("Client:")
    print(f" Version:    {__version__}")
    print(f" Context:    {backend.endpoint.name}")
    print(" Debug Mode: false")
    print()
    print("Server:")
    print("\n".join(" " + line for line in info_lines(info)))
    print()
    sys.stdout.flush()
    for warning in info.get("Warnings") or []:
        print(warning, file=sys.stderr)
    return 0


# -- system df, system prune --------------------------------------------------------------


def _sized(size: int, reclaimable: int, pct: bool = True) -> str:
    from tuidock.core.humanize import human_size

    text = human_size(reclaimable, 4)
    return f"{text} ({reclaimable * 100 // size}%)" if pct and size > 0 else text


def df_rows(du: dict) -> list[dict]:
    """docker system df's rows from /system/df, computed as the docker CLI does
    (go-units HumanSize: 4 significant digits)."""
    from tuidock.core.humanize import human_size

    def row(kind: str, total: int, active: int, size: int, reclaimable: str) -> dict:
        return {
            "Type": kind,
            "TotalCount": str(total),
            "Active": str(active),
            "Size": human_size(size, 4),
            "Reclaimable": reclaimable,
        }

    images = du.get("Images") or []
    layers = int(du.get("LayersSize") or 0)
    used = sum(
        i.get("Size", 0) - i.get("SharedSize", 0)
        for i in images
        if i.get("Containers", 0) not in (0, -1) and -1 not in (i.get("Size"), i.get("SharedSize"))
    )
    active_images = sum(1 for i in images if i.get("Containers", 0) not in (0, -1))
    containers = du.get("Containers") or []
    running = [c for c in containers if c.get("State") in ("running", "paused", "restarting")]
    c_size = sum(int(c.get("SizeRw") or 0) for c in containers)
    c_free = c_size - sum(int(c.get("SizeRw") or 0) for c in running)
    volumes = du.get("Volumes") or []
    usage = [v.get("UsageData") or {} for v in volumes]
    v_size = sum(u.get("Size", 0) for u in usage if u.get("Size", -1) >= 0)
    v_free = sum(
        u.get("Size", 0) for u in usage if u.get("Size", -1) >= 0 and not u.get("RefCount")
    )
    cache = du.get("BuildCache") or []
    b_size = sum(int(b.get("Size") or 0) for b in cache if not b.get("Shared"))
    b_busy = sum(int(b.get("Size") or 0) for b in cache if b.get("InUse") and not b.get("Shared"))
    return [
        row("Images", len(images), active_images, layers, _sized(layers, layers - used)),
        row("Containers", len(containers), len(running), c_size, _sized(c_size, c_free)),
        row(
            "Local Volumes",
            len(volumes),
            sum(1 for u in usage if u.get("RefCount", 0) > 0),
            v_size,
            _sized(v_size, v_free),
        ),
        row(
            "Build Cache",
            len(cache),
            sum(1 for b in cache if b.get("InUse")),
            b_size,
            _sized(b_size, b_size - b_busy, pct=False),
        ),
    ]


@daemon_words
def cmd_system_df(args: argparse.Namespace, backend: DockerBackend) -> int:
    du = backend._call(lambda: backend.api().df())
    print_df(df_rows(du), args)
    return 0


@daemon_words
def cmd_system_prune(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.cli.prune import confirm
    from tuidock.cli.remote.image import print_image_prune, prune_filters
    from tuidock.cli.remote.network import print_network_prune
    from tuidock.cli.remote.volume import ALL_VOLUMES_API, _api_version, print_volume_prune
    from tuidock.core.humanize import human_size
    from tuidock.core.prunefilter import parse_prune_filters
    from tuidock.errors import NotFound, TuidockError, UsageError

    filters = parse_prune_filters(args.filter)
    if args.volumes and filters.until_ns is not None:
        raise UsageError(
            'the "until" filter is not supported with "--volumes"', "As with Docker: drop one."
        )
    # Before API 1.42 a volume prune takes named volumes too: the warning says so.
    modern = _api_version(backend) >= ALL_VOLUMES_API
    if not confirm(
        prune_items(args, "all anonymous volumes" if modern else "all volumes"), args.force
    ):
        return 0
    api = backend.api()
    common = prune_filters(args.filter)
    # Containers first: what they used (networks, images, volumes) becomes unused.
    report = backend._call(lambda: api.prune_containers(filters=common or None))
    print_section("Deleted Containers:", report.get("ContainersDeleted") or [])
    reclaimed = int(report.get("SpaceReclaimed") or 0)
    print_network_prune(backend._call(lambda: api.prune_networks(filters=common or None)))
    if args.volumes:
        volume_filters = prune_filters(args.filter)
        reclaimed += print_volume_prune(
            backend._call(lambda: api.prune_volumes(filters=volume_filters or None))
        )
    image_filters = prune_filters(args.filter, dangling="false" if args.all else "true")
    reclaimed += print_image_prune(backend._call(lambda: api.prune_images(filters=image_filters)))
    try:
        cache = backend._call(lambda: api.prune_builds(all=args.all or None))
    except TuidockError as exc:
        # Podman's compat API has no /build/prune (404): no build cache to prune.
        if not isinstance(exc, NotFound) and not exc.message.endswith("Not Found"):
            raise
        cache = {}
    print_section("Deleted build cache objects:", cache.get("CachesDeleted") or [])
    reclaimed += int(cache.get("SpaceReclaimed") or 0)
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0
