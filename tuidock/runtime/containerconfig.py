"""What `create` turns into a container: options, image defaults, Docker's rules.

CreateOptions carries what the user asked for (the CLI flags, or the UI's
dialog); build_config() merges it with the image's config the way Docker
does and gives the Docker-shaped Config and HostConfig stored in
config.json; the ContainerSpec for the isolation code is derived from them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from tuidock.errors import UsageError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MIN_MEMORY = 6 * 1024 * 1024  # Docker refuses less
NETWORKS = ("none", "host", "bridge")  # issue 7: + bridge


@dataclass
class CreateOptions:
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
    network: str = "none"
    restart: str = "no"
    labels: dict[str, str] = field(default_factory=dict)
    publish: list[str] = field(default_factory=list)
    # issue 7 (networking)
    publish_all: bool = False
    ip: str | None = None
    dns: list[str] = field(default_factory=list)
    add_hosts: list[str] = field(default_factory=list)
    tty: bool = False
    stdin: bool = False
    auto_remove: bool = False
    stop_signal: str | None = None
    stop_timeout: int | None = None


# -- parsing user input -----------------------------------------------------------

_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$", re.IGNORECASE)


def parse_memory(text: str) -> int:
    """Docker's RAMInBytes: "512m", "1g", "1024" (bytes), binary multiples."""
    m = _SIZE_RE.match(text.strip())
    if not m:
        raise UsageError(f"invalid size: '{text}'")
    number, unit = float(m.group(1)), m.group(2).lower()
    value = int(number * 1024 ** "_kmgtp".index(unit)) if unit else int(number)
    if value < MIN_MEMORY:
        raise UsageError("Minimum memory limit allowed is 6MB")
    return value


def parse_cpus(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f'invalid argument "{text}" for "--cpus" flag') from None
    ncpu = os.cpu_count() or 1
    if value <= 0 or value > ncpu:
        raise UsageError(
            f"range of CPUs is from 0.01 to {ncpu:.2f}, as there are only {ncpu} CPUs available"
        )
    return value


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
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
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
    # issue 7: bridge networking ("default" is Docker's alias of the default network).
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
    for item in opts.add_hosts:
        host, sep, addr = item.partition(":")
        if not sep or not host or not addr:
            raise UsageError(f'invalid argument {item!r} for "--add-host": use HOST:IP')
    if opts.pids_limit is not None and opts.pids_limit <= 0:
        opts.pids_limit = None  # Docker: 0 or -1 = unlimited
    if opts.stop_signal is not None:
        signal_number(opts.stop_signal)
    return policy


def on_bridge(network: str) -> bool:
    """issue 7: the default bridge or a user network (a netns and a veth of its own)."""
    return network not in ("none", "host") and not network.startswith("container:")


def signal_number(name: str | int) -> int:
    """SIGTERM, TERM, term or 15 -> 15, as `kill -s` and StopSignal take them."""
    import signal

    text = str(name).strip().upper()
    if text.isdigit():
        num = int(text)
        if 0 < num < signal.NSIG:
            return num
    else:
        text = text if text.startswith("SIG") else "SIG" + text
        sig = getattr(signal.Signals, text, None) if text in signal.Signals.__members__ else None
        if sig is not None:
            return int(sig)
    raise UsageError(f"invalid signal: {name}")


def signal_name(num: int) -> str:
    import signal

    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)
