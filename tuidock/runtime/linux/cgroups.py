"""Container cgroups on cgroup v1, v2 and hybrid hosts, detected at run time.

Each container gets `tuidock/<id>` at the ROOT of every hierarchy we use,
not under the caller's own cgroup: the CLI or TUI that starts a container
may sit in a session or sandbox cgroup whose lifetime and limits must not
apply to the container.

- v1: one directory per hierarchy (cpu, cpuacct, cpuset, memory, pids,
  devices, freezer, blkio, co-mounted or not).
- v2: one directory in the unified tree; the controllers we need are
  enabled in the root's and in `tuidock`'s cgroup.subtree_control.
- hybrid: v1 hierarchies carry the controllers; the unified tree is used
  only for a controller that no v1 hierarchy has.

Memory (Docker's rule when only -m is given): the container may use as much
swap as memory, so v1 memory.memsw.limit_in_bytes = 2 x memory (when swap
accounting exists) and v2 memory.swap.max = memory (v2 counts swap alone).

Devices: v1 has the devices controller (deny all, then Docker's allow list).
Pure v2 has no devices file, only eBPF programs; we do not load one there,
and the isolation code makes every writable mount nodev instead, which
keeps CAP_MKNOD from reaching host devices (`has_device_control`).
"""

from __future__ import annotations

import errno
import os
import signal
import time
from functools import lru_cache
from pathlib import Path

from tuidock.core.record import Record
from tuidock.core.spec import Limits
from tuidock.errors import TuidockError

PARENT = "tuidock"
CFS_PERIOD_US = 100_000

V1_CONTROLLERS = frozenset(
    {"cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio"}
)
# v2 names of what the v1 controllers above do; cpuacct's and freezer's work
# is core in v2, devices are eBPF.
V2_CONTROLLERS = frozenset({"cpu", "memory", "pids", "io"})
_V2_EQUIVALENT = {"cpu": "cpu", "cpuacct": "cpu", "memory": "memory", "pids": "pids", "blkio": "io"}

# moby's + runc's default device rules: mknod of anything (an unusable node
# is harmless), and use of the standard nodes, ptys and tun.
DEVICE_ALLOW = (
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",  # null
    "c 1:5 rwm",  # zero
    "c 1:7 rwm",  # full
    "c 1:8 rwm",  # random
    "c 1:9 rwm",  # urandom
    "c 5:0 rwm",  # tty
    "c 5:1 rwm",  # console
    "c 5:2 rwm",  # ptmx
    "c 136:* rwm",  # pts
    "c 10:200 rwm",  # tun
)


class Hierarchy(Record, frozen=True):
    """One mounted cgroup tree."""

    mountpoint: str
    controllers: frozenset[str]
    unified: bool

    @property
    def name(self) -> str:
        """How the tree is named in /sys/fs/cgroup ("memory", "cpu,cpuacct", "unified")."""
        return os.path.basename(self.mountpoint)


class Layout(Record, frozen=True):
    """What this host has: `version` and the hierarchies containers use."""

    version: str  # "v1" | "v2" | "hybrid" | "none"
    hierarchies: tuple[Hierarchy, ...]


class CgroupStats(Record):
    cpu_ns: int = 0
    memory_usage: int = 0  # usage minus inactive file cache, as docker stats shows
    memory_limit: int = 0  # capped at host memory
    pids_current: int = 0
    pids_limit: int | None = None  # None: no limit
    block_read: int = 0  # bytes
    block_write: int = 0


class UsageFiles(Record, frozen=True):
    """The files stats() reads for CPU, memory and PIDs, for a reader that keeps
    them open and samples them often (the UI): None where the host lacks one."""

    cpu: str | None  # v2 cpu.stat (usage_usec line) or v1 cpuacct.usage (ns)
    cpu_v2: bool
    memory_usage: str | None
    memory_stat: str | None
    memory_limit: str | None
    inactive_key: str  # the memory.stat line subtracted from usage
    pids: str | None


# ------------------------------------------------------------- detection


def _mountinfo() -> list[tuple[str, str, str, str]]:
    """(root, mountpoint, fstype, superoptions) of every cgroup mount."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            fields = head.split()
            rest = tail.split()
            if len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
                continue
            found.append((fields[3], fields[4].replace("\\040", " "), rest[0], rest[2]))
    return found


@lru_cache(maxsize=1)
def detect_layout() -> Layout:
    """The cgroup layout of this host, read once from /proc/self/mountinfo."""
    v1: dict[frozenset[str], Hierarchy] = {}
    unified: Hierarchy | None = None
    # A tree may be mounted more than once (bind mounts): prefer the mount of
    # its real root, i.e. the host's view.
    for _root, point, fstype, options in sorted(_mountinfo(), key=lambda m: m[0] != "/"):
        if fstype == "cgroup2":
            if unified is None:
                unified = Hierarchy(point, _v2_controllers(point), True)
            continue
        ctls = frozenset(options.split(",")) & V1_CONTROLLERS
        if ctls and ctls not in v1:
            v1[ctls] = Hierarchy(point, ctls, False)
    if v1 and unified is not None:
        version = "hybrid"
    elif v1:
        version = "v1"
    elif unified is not None:
        version = "v2"
    else:
        return Layout("none", ())
    used = list(v1.values())
    if unified is not None:
        on_v1 = {_V2_EQUIVALENT.get(c) for h in v1.values() for c in h.controllers}
        if not v1 or (unified.controllers & V2_CONTROLLERS) - on_v1:
            used.append(unified)
    return Layout(version, tuple(used))


def _v2_controllers(mountpoint: str) -> frozenset[str]:
    try:
        return frozenset(Path(mountpoint, "cgroup.controllers").read_text().split())
    except OSError:
        return frozenset()


def cgroup_version() -> str:
    """ "v1", "v2", "hybrid" (or "none"), for `tuidock info` and the UI header."""
    return detect_layout().version


# ---------------------------------------------------------- file helpers


def _write(path: Path, value: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise TuidockError(f"cannot open {path}: {e.strerror}") from e
    try:
        os.write(fd, value.encode())
    except OSError as e:
        raise TuidockError(f"cannot write {value!r} to {path}: {e.strerror}") from e
    finally:
        os.close(fd)


def _read(path: Path | str) -> str | None:
    # os.read rather than open(): the text-mode io stack made stats() cost
    # 0.6 ms a container, which the UI pays for every container every tick.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 1 << 16).decode()
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)


def _read_int(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _keyed(text: str | None) -> dict[str, int]:
    """ "key value" lines (memory.stat, cpu.stat, memory.events...) as a dict."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


@lru_cache(maxsize=1)
def host_memory() -> int:
    """MemTotal in bytes."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _mkdir(path: Path) -> bool:
    """Create `path`; False if it was already there."""
    try:
        os.mkdir(path)
        return True
    except FileExistsError:
        return False
    except OSError as e:
        raise TuidockError(f"cannot create cgroup {path}: {e.strerror}") from e


# -------------------------------------------------------------- the cgroup


class ContainerCgroup:
    """The cgroup directories of one container, one per hierarchy in use."""

    def __init__(self, container_id: str, layout: Layout, dirs: dict[Hierarchy, Path]) -> None:
        self.container_id = container_id
        self.layout = layout
        self.dirs = dirs

    # -- creating and finding

    @classmethod
    def create(
        cls, container_id: str, limits: Limits, layout: Layout | None = None
    ) -> ContainerCgroup:
        """Create `tuidock/<id>` in every hierarchy in use and apply `limits`.

        On failure every directory made here is removed again.
        """
        layout = layout or detect_layout()
        if not layout.hierarchies:
            raise TuidockError("no cgroup filesystem is mounted under /sys/fs/cgroup")
        _check_supported(layout, limits)
        cg = cls(container_id, layout, {})
        try:
            for h in layout.hierarchies:
                parent = Path(h.mountpoint, PARENT)
                if h.unified:
                    _enable_v2(Path(h.mountpoint), h.controllers)
                    _mkdir(parent)
                    _enable_v2(parent, h.controllers)
                else:
                    _mkdir(parent)
                    if "cpuset" in h.controllers:
                        _copy_cpuset(Path(h.mountpoint), parent)
                path = parent / container_id
                _mkdir(path)
                cg.dirs[h] = path
                if "cpuset" in h.controllers and not h.unified:
                    _copy_cpuset(parent, path)
                if "devices" in h.controllers:
                    _write(path / "devices.deny", "a")
                    for rule in DEVICE_ALLOW:
                        _write(path / "devices.allow", rule)
            cg._apply(limits)
        except BaseException:
            cg.destroy()
            raise
        return cg

    @classmethod
    def load(cls, container_id: str, layout: Layout | None = None) -> ContainerCgroup:
        """The existing directories of `container_id` (maybe none: see `exists`)."""
        layout = layout or detect_layout()
        dirs = {}
        for h in layout.hierarchies:
            path = Path(h.mountpoint, PARENT, container_id)
            if path.is_dir():
                dirs[h] = path
        return cls(container_id, layout, dirs)

    @property
    def exists(self) -> bool:
        return any(p.is_dir() for p in self.dirs.values())

    @property
    def version(self) -> str:
        return self.layout.version

    @property
    def has_device_control(self) -> bool:
        """Whether a devices cgroup guards device nodes (else: mount writable dirs nodev)."""
        return any("devices" in h.controllers for h in self.dirs)

    def _dir(self, controller: str) -> tuple[Path, bool] | None:
        """(directory, is_v2) that holds `controller` (v1 name); v2 core files count."""
        for h, path in self.dirs.items():
            if not h.unified and controller in h.controllers:
                return path, False
        for h, path in self.dirs.items():
            if h.unified:
                return path, True
        return None

    def _apply(self, limits: Limits) -> None:
        if limits.memory is not None:
            where = self._dir("memory")
            assert where is not None
            path, v2 = where
            if v2:
                _write(path / "memory.max", str(limits.memory))
                if (path / "memory.swap.max").exists():
                    _write(path / "memory.swap.max", str(limits.memory))
            else:
                _write(path / "memory.limit_in_bytes", str(limits.memory))
                if (path / "memory.memsw.limit_in_bytes").exists():
                    _write(path / "memory.memsw.limit_in_bytes", str(2 * limits.memory))
        if limits.cpus is not None:
            where = self._dir("cpu")
            assert where is not None
            path, v2 = where
            quota = max(1000, round(limits.cpus * CFS_PERIOD_US))
            if v2:
                _write(path / "cpu.max", f"{quota} {CFS_PERIOD_US}")
            else:
                _write(path / "cpu.cfs_period_us", str(CFS_PERIOD_US))
                _write(path / "cpu.cfs_quota_us", str(quota))
        if limits.pids is not None:
            where = self._dir("pids")
            assert where is not None
            value = str(limits.pids) if limits.pids > 0 else "max"
            _write(where[0] / "pids.max", value)

    def allow_all_devices(self) -> None:
        """--privileged: lift the v1 device rules."""
        for h, path in self.dirs.items():
            if "devices" in h.controllers:
                _write(path / "devices.allow", "a")

    def add(self, pid: int) -> None:
        """Move `pid` into the container's cgroup in every hierarchy."""
        for path in self.dirs.values():
            _write(path / "cgroup.procs", str(pid))

    def views(self) -> list[tuple[str, Path, tuple[str, ...]]]:
        """What the container's /sys/fs/cgroup shows: (name, host dir, alias links).

        Pure v2 gives one entry named "" (the whole /sys/fs/cgroup); v1 and
        hybrid give one subdirectory per hierarchy, with links such as
        cpu -> cpu,cpuacct for co-mounted controllers, as hosts have them.
        """
        if self.layout.version == "v2":
            return [("", path, ()) for path in self.dirs.values()][:1]
        out = []
        for h, path in self.dirs.items():
            aliases = tuple(sorted(h.controllers)) if "," in h.name else ()
            out.append((h.name, path, tuple(a for a in aliases if a != h.name)))
        return out

    # -- readers

    def pids(self) -> list[int]:
        """Processes in the container's cgroup (the union over hierarchies)."""
        seen: set[int] = set()
        for path in self.dirs.values():
            text = _read(path / "cgroup.procs")
            if text:
                seen.update(int(p) for p in text.split())
        return sorted(seen)

    def stats(self, block_io: bool = True) -> CgroupStats:
        """Usage now; block_io=False skips the blkio files (the dashboard has no column for them)."""
        out = CgroupStats()
        where = self._dir("cpuacct")
        if where is not None:
            path, v2 = where
            if v2:
                out.cpu_ns = _keyed(_read(path / "cpu.stat")).get("usage_usec", 0) * 1000
            else:
                out.cpu_ns = _read_int(path / "cpuacct.usage") or 0
        where = self._dir("memory")
        host = host_memory()
        out.memory_limit = host
        if where is not None:
            path, v2 = where
            stat = _keyed(_read(path / "memory.stat"))
            if v2:
                usage = _read_int(path / "memory.current") or 0
                inactive = stat.get("inactive_file", 0)
                limit = _read_int(path / "memory.max")
            else:
                usage = _read_int(path / "memory.usage_in_bytes") or 0
                inactive = stat.get("total_inactive_file", 0)
                limit = _read_int(path / "memory.limit_in_bytes")
            out.memory_usage = usage - inactive if inactive < usage else usage
            if limit is not None and 0 < limit < host:
                out.memory_limit = limit
        where = self._dir("pids")
        if where is not None:
            path, _ = where
            out.pids_current = _read_int(path / "pids.current") or 0
            out.pids_limit = _read_int(path / "pids.max")
        if block_io:
            out.block_read, out.block_write = self._block_io()
        return out

    def usage_files(self) -> UsageFiles:
        cpu = self._dir("cpuacct")
        mem = self._dir("memory")
        pids = self._dir("pids")
        mem_v2 = mem is not None and mem[1]
        v1_names = ("memory.usage_in_bytes", "memory.limit_in_bytes")
        names = ("memory.current", "memory.max") if mem_v2 else v1_names
        return UsageFiles(
            cpu=None if cpu is None else str(cpu[0] / ("cpu.stat" if cpu[1] else "cpuacct.usage")),
            cpu_v2=cpu is not None and cpu[1],
            memory_usage=None if mem is None else str(mem[0] / names[0]),
            memory_stat=None if mem is None else str(mem[0] / "memory.stat"),
            memory_limit=None if mem is None else str(mem[0] / names[1]),
            inactive_key="inactive_file" if mem_v2 else "total_inactive_file",
            pids=None if pids is None else str(pids[0] / "pids.current"),
        )

    def _block_io(self) -> tuple[int, int]:
        where = self._dir("blkio")
        if where is None:
            return 0, 0
        path, v2 = where
        read = write = 0
        if v2:
            for line in (_read(path / "io.stat") or "").splitlines():
                for field in line.split()[1:]:
                    key, _, value = field.partition("=")
                    if key == "rbytes":
                        read += int(value)
                    elif key == "wbytes":
                        write += int(value)
            return read, write
        text = _read(path / "blkio.throttle.io_service_bytes_recursive") or ""
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "Read":
                read += int(parts[2])
            elif len(parts) == 3 and parts[1] == "Write":
                write += int(parts[2])
        return read, write

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer killed a process of this container."""
        where = self._dir("memory")
        if where is None:
            return False
        path, v2 = where
        name = "memory.events" if v2 else "memory.oom_control"
        return _keyed(_read(path / name)).get("oom_kill", 0) > 0

    # -- control

    def freeze(self, timeout: float = 5.0) -> None:
        """Freeze every process (docker pause); returns once they are frozen."""
        self._set_frozen(True, timeout)

    def thaw(self, timeout: float = 5.0) -> None:
        self._set_frozen(False, timeout)

    def _set_frozen(self, frozen: bool, timeout: float) -> None:
        where = self._dir("freezer")
        if where is None:
            raise TuidockError("pausing needs the freezer cgroup, which this host lacks")
        path, v2 = where
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            if v2:
                _write(path / "cgroup.freeze", "1" if frozen else "0")
                events = _keyed(_read(path / "cgroup.events"))
                done = events.get("frozen", 0) == int(frozen)
            else:
                # Rewriting FROZEN retries tasks that were busy the first time.
                state = "FROZEN" if frozen else "THAWED"
                _write(path / "freezer.state", state)
                done = (_read(path / "freezer.state") or "").strip() == state
            if done:
                return
            if time.monotonic() > deadline:
                raise TuidockError(
                    f"cgroup of {self.container_id} did not become {_state_name(frozen)}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to every process of the container."""
        if sig == signal.SIGKILL:
            for h, path in self.dirs.items():
                if h.unified and (path / "cgroup.kill").exists():
                    _write(path / "cgroup.kill", "1")
                    return
        # Frozen while listed, so that a forking process cannot add a child
        # between the listing and the kill; no wait for FROZEN: `destroy`
        # loops until the cgroup is empty anyway.
        freezer = self._dir("freezer") if sig == signal.SIGKILL else None
        if freezer is not None:
            path, v2 = freezer
            _try_write(path / ("cgroup.freeze" if v2 else "freezer.state"), "1" if v2 else "FROZEN")
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if freezer is not None:
                path, v2 = freezer
                _try_write(
                    path / ("cgroup.freeze" if v2 else "freezer.state"), "0" if v2 else "THAWED"
                )

    def destroy(self, timeout: float = 10.0) -> None:
        """Kill whatever is left, wait until empty, remove every directory.

        Idempotent; raises TuidockError only if a process refuses to die
        within `timeout` (a task stuck in the kernel).
        """
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            procs = self.pids()
            if not procs:
                break
            if time.monotonic() > deadline:
                raise TuidockError(
                    f"processes {procs[:5]} of container {self.container_id} do not die"
                )
            self.kill_all(signal.SIGKILL)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        for path in self.dirs.values():
            while True:
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    # EBUSY: a just-killed task is still leaving the cgroup.
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise TuidockError(f"cannot remove cgroup {path}: {e.strerror}") from e
                    time.sleep(0.005)


def _state_name(frozen: bool) -> str:
    return "frozen" if frozen else "thawed"


def _try_write(path: Path, value: str) -> None:
    try:
        _write(path, value)
    except TuidockError:
        pass


def _check_supported(layout: Layout, limits: Limits) -> None:
    def has(controller: str) -> bool:
        for h in layout.hierarchies:
            if controller in (h.controllers if not h.unified else _v1_names(h.controllers)):
                return True
        return False

    wanted = {"memory": limits.memory, "cpu": limits.cpus, "pids": limits.pids}
    for controller, value in wanted.items():
        if value is not None and not has(controller):
            raise TuidockError(
                f"this host has no {controller} cgroup controller: "
                f"cannot apply the {controller} limit"
            )


def _v1_names(v2_controllers: frozenset[str]) -> set[str]:
    return {v1 for v1, v2 in _V2_EQUIVALENT.items() if v2 in v2_controllers}


def _enable_v2(path: Path, available: frozenset[str]) -> None:
    """Enable our controllers for the children of `path` (one at a time: one
    that cannot be enabled must not keep the others off)."""
    current = set((_read(path / "cgroup.subtree_control") or "").split())
    for controller in sorted((V2_CONTROLLERS & available) - current):
        _try_write(path / "cgroup.subtree_control", f"+{controller}")


def _copy_cpuset(parent: Path, child: Path) -> None:
    """v1 cpuset starts empty, and a cgroup with no cpus or mems takes no tasks."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not (_read(child / name) or "").strip():
            _write(child / name, (_read(parent / name) or "").strip() or "\n")
