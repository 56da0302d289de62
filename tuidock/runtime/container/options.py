"""What `create` turns into a container: options, image defaults, Docker's rules.

CreateOptions carries what the user asked for (the CLI flags, or the UI's
dialog); build_config() merges it with the image's config the way Docker
does and gives the Docker-shaped Config and HostConfig stored in
config.json; the ContainerSpec for the isolation code is derived from them.
"""

from __future__ import annotations

import ipaddress
import os
import re

from tuidock.core.flagvalues import INT64_MAX, bad_flag, signal_number
from tuidock.core.record import Record, field
from tuidock.errors import UsageError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MIN_MEMORY = 6 * 1024 * 1024  # Docker refuses less
NETWORKS = ("none", "host", "bridge")


class CreateOptions(Record):
    image: str
    command: list[str] = field(default_factory=list)
    name: str | None = None
    env: list[str] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    entrypoint: str | None = None  # "" clears the image's
    hostname: str | None = None
    memory: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None
    init: bool = False
    read_only: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    security_opt: list[str] = field(default_factory=list)  # --security-opt, as given
    network: str = "none"
    restart: str = "no"
    labels: dict[str, str] = field(default_factory=dict)
    publish: list[str] = field(default_factory=list)
    publish_all: bool = False
    ip: str | None = None
    dns: list[str] = field(default_factory=list)
    add_hosts: list[str] = field(default_factory=list)
    network_aliases: list[str] = field(default_factory=list)
    tty: bool = False
    stdin: bool = False
    auto_remove: bool = False
    stop_signal: str | None = None
    stop_timeout: int | None = None
    # Mounts, as given: -v/--volume, --mount, --tmpfs (parsed by parse_mounts()).
    volumes: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)


class MountRequest(Record):
    """One mount the user asked for, before volumes are created or paths checked."""

    type: str  # "bind" | "volume" | "tmpfs"
    target: str
    source: str = ""  # host path (bind), volume name ("" = anonymous), unused for tmpfs
    readonly: bool = False
    options: list[str] = field(default_factory=list)  # tmpfs: "size=64m", "mode=1777"...
    create_source: bool = False  # -v creates a missing bind source; --mount refuses it


# -- parsing user input -----------------------------------------------------------

_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$", re.IGNORECASE)


def parse_memory(text: str, flag: str = "-m, --memory") -> int:
    """Docker's RAMInBytes: "512m", "1g", "1024" (bytes), binary multiples."""
    m = _SIZE_RE.match(text.strip())
    if not m:
        raise bad_flag(text, flag, f"invalid size: '{text}'")
    number, unit = float(m.group(1)), m.group(2).lower()
    value = int(number * 1024 ** "_kmgtp".index(unit)) if unit else int(number)
    if value > INT64_MAX:
        raise bad_flag(text, flag, f"invalid size: '{text}'")
    if value < MIN_MEMORY:
        raise UsageError("Minimum memory limit allowed is 6MB")
    return value


def parse_cpus(text: str) -> float | None:
    """Docker's --cpus: a decimal number of CPUs in nano-CPU steps; 0 is no limit."""
    from fractions import Fraction

    try:
        # A rational number as Go's big.Rat reads it: no NaN, no infinity.
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise bad_flag(text, "--cpus", f"failed to parse {text} as a rational number") from None
    nano = value * 1_000_000_000
    if nano.denominator != 1:
        raise bad_flag(text, "--cpus", "value is too precise")
    if value == 0:
        return None
    ncpu = os.cpu_count() or 1
    # The kernel's smallest CFS quota is 1 ms per 100 ms period: 0.01 CPU.
    if value < Fraction(1, 100) or value > ncpu:
        raise UsageError(
            f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )
    return float(value)


def parse_restart(text: str) -> dict:
    """`no`, `always`, `unless-stopped`, `on-failure[:N]` -> Docker's RestartPolicy."""
    name, sep, count = (text or "no").partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise UsageError(f"invalid restart policy '{text}'")
    if sep:
        if name != "on-failure":
            raise UsageError(f"maximum retry count cannot be used with restart policy '{name}'")
        if not count.isdigit():
            raise UsageError(f"maximum retry count must be an integer: '{count}'")
    return {"Name": name, "MaximumRetryCount": int(count) if sep else 0}


def _env_item(item: str, out: dict[str, str]) -> None:
    name, sep, value = item.partition("=")
    if not name:
        raise UsageError(f"invalid environment variable: {item}")
    if sep:
        out[name] = value
    elif name in os.environ:
        # `-e NAME` takes the value from the caller's environment; absent -> not set.
        out[name] = os.environ[name]


def read_env_file(path: str) -> list[str]:
    from tuidock.core.userfiles import LINE_MAX, LINES_MAX, read_user_text

    try:
        lines = read_user_text(path, "env file", LINES_MAX, LINE_MAX).splitlines()
    except OSError as exc:
        raise UsageError(f"open {path}: {exc.strerror}") from None
    out = []
    for line in lines:
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        out.append(line)
    return out


def merge_env(image_env: list[str], files: list[str], given: list[str]) -> list[str]:
    """Image defaults, then --env-file entries, then -e: later ones win, order kept."""
    env: dict[str, str] = {}
    for item in image_env:
        name, _, value = item.partition("=")
        env[name] = value
    for path in files:
        for item in read_env_file(path):
            _env_item(item, env)
    for item in given:
        _env_item(item, env)
    env.setdefault("PATH", DEFAULT_PATH)
    return [f"{k}={v}" for k, v in env.items()]


def env_list(files: list[str], given: list[str]) -> list[str]:
    """--env-file entries then -e, resolved as the docker CLI does before it sends them
    (`-e NAME` from this environment); the engine merges them over the image's."""
    env: dict[str, str] = {}
    for path in files:
        for item in read_env_file(path):
            _env_item(item, env)
    for item in given:
        _env_item(item, env)
    return [f"{k}={v}" for k, v in env.items()]


def normalize_caps(caps: list[str]) -> list[str]:
    out = []
    for cap in caps:
        c = cap.strip().upper()
        if not c:
            continue
        if c != "ALL" and not c.startswith("CAP_"):
            c = "CAP_" + c
        if not re.fullmatch(r"ALL|CAP_[A-Z_]+", c):
            raise UsageError(f"invalid capability: {cap}")
        out.append(c)
    return out


def parse_labels(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid label: {item}")
        out[key] = value
    return out


# -- merging with the image --------------------------------------------------------------


def resolve_command(opts: CreateOptions, image: dict) -> tuple[list[str], list[str]]:
    """(Entrypoint, Cmd) by Docker's rules.

    A command after the image replaces Cmd. --entrypoint replaces Entrypoint
    and drops the image's Cmd (a command given with it is kept); an empty
    --entrypoint clears it.
    """
    entrypoint = list(image.get("Entrypoint") or [])
    cmd = list(image.get("Cmd") or [])
    if opts.entrypoint is not None:
        entrypoint = [opts.entrypoint] if opts.entrypoint else []
        cmd = []
    if opts.command:
        cmd = list(opts.command)
    if not entrypoint and not cmd:
        raise UsageError("no command specified", "Give a command after the image name.")
    return entrypoint, cmd


def check_options(opts: CreateOptions) -> dict:
    """Refuse what cannot work before anything is written; returns the RestartPolicy."""
    policy = parse_restart(opts.restart)
    if opts.auto_remove and policy["Name"] != "no":
        raise UsageError("conflicting options: cannot specify both --restart and --rm")
    # bridge networking ("default" is Docker's alias of the default network).
    if opts.network == "default":
        opts.network = "bridge"
    if opts.network.startswith("container:"):
        if not opts.network.removeprefix("container:"):
            raise UsageError("--network container: needs a container name or ID")
    elif not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", opts.network):
        raise UsageError(f"network {opts.network} not found", "Use bridge, none or host.")
    # Any other name is a user network: create() checks that it exists.
    if (opts.publish or opts.publish_all) and not on_bridge(opts.network):
        # Docker ignores -p with host networking and refuses it with none; both
        # are refused here so a mistake does not go unnoticed.
        raise UsageError(
            f"port publishing needs the bridge network, not {opts.network!r}",
            "Leave out --network (bridge is the default), or leave out -p/-P.",
        )
    if opts.publish:
        from tuidock.runtime.network.ports import parse_publish

        for spec in opts.publish:
            parse_publish(spec)  # refuse a bad -p before anything is written
    if opts.ip and not on_bridge(opts.network):
        raise UsageError("--ip needs the bridge network")
    if opts.network_aliases:
        if not on_bridge(opts.network) or opts.network == "bridge":
            raise UsageError(
                "network-scoped aliases are only supported for user-defined networks",
                "Create one with `tuidock network create NAME`, then run with --network NAME.",
            )
        for alias in opts.network_aliases:
            if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", alias):
                raise UsageError(f"invalid network alias {alias!r}")
    if opts.workdir is not None:
        check_workdir(opts.workdir)
    for server in opts.dns:
        if not is_ip_address(server):
            raise UsageError(
                f'invalid argument "{server}" for "--dns" flag: {server} is not an ip address'
            )
    for item in opts.add_hosts:
        check_add_host(item)
    if opts.pids_limit is not None and opts.pids_limit <= 0:
        opts.pids_limit = None  # Docker: 0 or -1 = unlimited
    if opts.stop_signal is not None:
        signal_number(opts.stop_signal)
    parse_mounts(opts)  # a bad -v/--mount/--tmpfs is refused before anything is written
    return policy


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return True


def check_workdir(path: str) -> None:
    """-w must name an absolute path, in `run`/`create` as in `exec`."""
    if not path.startswith("/"):
        raise UsageError(
            f"the working directory '{path}' is invalid, it needs to be an absolute path"
        )


def check_add_host(item: str) -> None:
    """`--add-host HOST:IP`, as Docker's ValidateExtraHost (an IPv6 address may be in [])."""
    host, sep, addr = item.partition(":")
    if not sep or not host:
        raise UsageError(
            f'invalid argument "{item}" for "--add-host" flag: bad format for add-host: "{item}"'
        )
    if len(addr) > 2 and addr[0] == "[" and addr[-1] == "]":
        addr = addr[1:-1]
    if not is_ip_address(addr):
        raise UsageError(
            f'invalid argument "{item}" for "--add-host" flag: '
            f'invalid IP address in add-host: "{addr}"'
        )


def check_proc_mount(req: MountRequest) -> None:
    """Refuse what runc's checkProcMount refuses: over /proc only a procfs (a bind of a
    procfs root), inside /proc only the files lxcfs emulates."""
    if req.target == "/proc":
        if req.type == "bind" and _is_procfs_root(req.source):
            return
        raise UsageError(f'"{req.target}" cannot be mounted because it is not of type proc')
    if req.target.startswith("/proc/") and req.target not in _PROC_MOUNT_ALLOWED:
        raise UsageError(f'"{req.target}" cannot be mounted because it is inside /proc')


# runc's validProcMounts: files lxcfs emulates, so top and free show the container's view.
_PROC_MOUNT_ALLOWED = frozenset(
    {
        "/proc/cpuinfo",
        "/proc/diskstats",
        "/proc/meminfo",
        "/proc/stat",
        "/proc/swaps",
        "/proc/uptime",
        "/proc/loadavg",
        "/proc/slabinfo",
        "/proc/net/dev",
        "/proc/sys/kernel/ns_last_pid",
        "/proc/sys/crypto/fips_enabled",
    }
)


def _is_procfs_root(source: str) -> bool:
    """Whether `source` is where a procfs is mounted (its root, not a directory inside)."""
    where = os.path.realpath(source)
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, fstype = left.split(), right.split()[:1]
        if (
            len(fields) > 4
            and fields[3] == "/"
            and fstype == ["proc"]
            and fields[4].encode().decode("unicode_escape") == where
        ):
            return True
    return False


def parse_volume_flag(text: str) -> MountRequest:
    """`-v`: /ctr (anonymous), name:/ctr[:opts] (named volume), /host:/ctr[:opts] (bind)."""
    parts = text.split(":")
    if len(parts) == 1:
        if not text.startswith("/"):
            raise UsageError(f"invalid volume specification: '{text}'")
        return MountRequest("volume", text)
    if len(parts) > 3 or not parts[0] or not parts[1].startswith("/"):
        raise UsageError(f"invalid volume specification: '{text}'")
    source, target = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) == 3 else []
    readonly = False
    for opt in opts:
        if opt == "ro":
            readonly = True
        elif opt not in ("rw", "z", "Z", "nocopy", "rprivate", "private"):
            raise UsageError(f"invalid mode: {opt}")
    if source.startswith("/"):
        return MountRequest("bind", target, source, readonly, create_source=True)
    return MountRequest("volume", target, source, readonly)


def parse_mount_flag(text: str) -> MountRequest:
    """`--mount type=bind|volume|tmpfs,source=..,target=..,readonly` (CSV of key=value)."""
    fields: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if key in ("readonly", "ro"):
            # A bare `readonly`, or readonly=true/1.
            fields["readonly"] = "true" if not sep else value.lower()
            continue
        if not sep:
            raise UsageError(f"invalid field '{item}' must be a key=value pair")
        fields[{"src": "source", "dst": "target", "destination": "target"}.get(key, key)] = value
    kind = fields.pop("type", "volume")
    target = fields.pop("target", "")
    if not target:
        raise UsageError("invalid argument for --mount: target is required")
    if not target.startswith("/"):
        raise UsageError(f"invalid mount target {target!r}: must be an absolute path")
    readonly = fields.pop("readonly", "false") in ("true", "1")
    source = fields.pop("source", "")
    if kind == "tmpfs":
        if source:
            raise UsageError("invalid argument for --mount: source is not allowed for tmpfs")
        opts = []
        if "tmpfs-size" in fields:
            opts.append(f"size={fields.pop('tmpfs-size')}")
        if "tmpfs-mode" in fields:
            opts.append(f"mode={fields.pop('tmpfs-mode')}")
        if readonly:
            opts.append("ro")
        req = MountRequest("tmpfs", target, "", readonly, opts)
    elif kind == "bind":
        if not source.startswith("/"):
            raise UsageError("invalid argument for --mount: bind source must be an absolute path")
        req = MountRequest("bind", target, source, readonly)
    elif kind == "volume":
        req = MountRequest("volume", target, source, readonly)
    else:
        raise UsageError(f"invalid mount type {kind!r}: use bind, volume or tmpfs")
    fields.pop("bind-propagation", None)
    fields.pop("volume-nocopy", None)
    if fields:
        raise UsageError(f"unexpected key '{next(iter(fields))}' in '{text}'")
    return req


def parse_tmpfs_flag(text: str) -> MountRequest:
    """`--tmpfs /path[:opts]` with mount(8)-style options (size=64m,mode=1777,ro...)."""
    target, _, opts = text.partition(":")
    if not target.startswith("/"):
        raise UsageError(f"invalid tmpfs destination {target!r}: must be an absolute path")
    options = [o for o in opts.split(",") if o]
    return MountRequest("tmpfs", target, "", "ro" in options, options)


def parse_mounts(opts: CreateOptions) -> list[MountRequest]:
    """Every mount of -v, --mount and --tmpfs; two at one target are refused, as Docker."""
    reqs = [parse_volume_flag(v) for v in opts.volumes]
    reqs += [parse_mount_flag(m) for m in opts.mounts]
    reqs += [parse_tmpfs_flag(t) for t in opts.tmpfs]
    seen: set[str] = set()
    for r in reqs:
        r.target = os.path.normpath(r.target)
        if r.target == "/":
            raise UsageError("invalid specification: destination can't be '/'")
        if r.target in seen:
            raise UsageError(f"Duplicate mount point: {r.target}")
        check_proc_mount(r)
        seen.add(r.target)
    return reqs


def on_bridge(network: str) -> bool:
    """The default bridge or a user network (a netns and a veth of its own)."""
    return network not in ("none", "host") and not network.startswith("container:")


def signal_name(num: int) -> str:
    import signal

    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)
