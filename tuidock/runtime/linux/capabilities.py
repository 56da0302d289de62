"""Linux capabilities: names, Docker's default set, and dropping them.

`effective_caps` turns `--cap-add/--cap-drop/--privileged` into the set a
container gets, the way Docker computes it; `apply_caps` installs that set
in the container's first process just before exec.
"""

from __future__ import annotations

from tuidock.errors import TuidockError
from tuidock.runtime.linux import syscalls

# For annotations only: `exec` loads this module on its hot path, and
# collections.abc drags in the collections package (~3 ms).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

# Index = capability number (linux/capability.h).
CAP_NAMES: tuple[str, ...] = (
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
)
CAP_NUMBERS: dict[str, int] = {name: i for i, name in enumerate(CAP_NAMES)}

DEFAULT_CAPS: frozenset[int] = frozenset(
    CAP_NUMBERS[n]
    for n in (
        "CHOWN",
        "DAC_OVERRIDE",
        "FSETID",
        "FOWNER",
        "MKNOD",
        "NET_RAW",
        "SETGID",
        "SETUID",
        "SETFCAP",
        "SETPCAP",
        "NET_BIND_SERVICE",
        "SYS_CHROOT",
        "KILL",
        "AUDIT_WRITE",
    )
)


def cap_number(name: str) -> int:
    """The number of `name` ("NET_ADMIN", "cap_net_admin"...); TuidockError if unknown."""
    key = name.strip().upper()
    key = key.removeprefix("CAP_")
    try:
        return CAP_NUMBERS[key]
    except KeyError:
        raise TuidockError(
            f'unknown capability: "CAP_{key}"',
            hint="known capabilities: ALL, " + ", ".join(CAP_NAMES),
        ) from None


def cap_name(number: int) -> str:
    """ "CAP_NET_ADMIN" for 12; an unknown number shows as "CAP_<n>"."""
    if 0 <= number < len(CAP_NAMES):
        return "CAP_" + CAP_NAMES[number]
    return f"CAP_{number}"


def mask(caps: Iterable[int]) -> int:
    """The bit mask /proc/<pid>/status shows for `caps`."""
    value = 0
    for cap in caps:
        value |= 1 << cap
    return value


_last_cap: int | None = None


def last_cap() -> int:
    """The highest capability the running kernel knows (read once per process)."""
    global _last_cap
    if _last_cap is None:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _last_cap = int(f.read())
        except (OSError, ValueError):
            _last_cap = len(CAP_NAMES) - 1
    return _last_cap


_bounding: int | None = None


def _own_bounding_set() -> int:
    """This process's bounding set: a container can never get more."""
    global _bounding
    if _bounding is None:
        _bounding = (1 << (last_cap() + 1)) - 1
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("CapBnd:"):
                        _bounding = int(line.split()[1], 16)
        except (OSError, ValueError):
            pass
    return _bounding


def all_caps() -> set[int]:
    """Docker's "ALL": every capability we and the running kernel know that
    is available here (root in a sandbox may itself lack some)."""
    available = _own_bounding_set()
    known = range(min(last_cap(), len(CAP_NAMES) - 1) + 1)
    return {c for c in known if available >> c & 1}


def _parse(names: Iterable[str]) -> tuple[set[int], bool]:
    numbers: set[int] = set()
    everything = False
    for name in names:
        if name.strip().upper() in ("ALL", "CAP_ALL"):
            everything = True
        else:
            numbers.add(cap_number(name))
    return numbers, everything


def effective_caps(cap_add: Iterable[str], cap_drop: Iterable[str], privileged: bool) -> set[int]:
    """The capabilities a container gets, as Docker computes them.

    Privileged: everything. Otherwise "ALL" in cap_add means everything but
    cap_drop; "ALL" in cap_drop means exactly cap_add; else the defaults minus
    cap_drop plus cap_add (so a cap both added and dropped is kept). Names are
    validated even when privileged, as Docker does.
    """
    add, add_all = _parse(cap_add)
    drop, drop_all = _parse(cap_drop)
    supported = all_caps()
    if privileged:
        return supported
    missing = (add | drop) - supported
    if missing:
        names = ", ".join(cap_name(c) for c in sorted(missing))
        raise TuidockError(f"capability not supported by the kernel or not available here: {names}")
    if add_all:
        return supported - drop
    if drop_all:
        return add
    return (set(DEFAULT_CAPS) - drop) | add


def apply_caps(caps: Iterable[int], uid: int = 0) -> None:
    """Install `caps` in this process: the last step before exec.

    Call it after the switch to the container user, with PR_SET_KEEPCAPS set
    before that switch when `uid` is not 0 (the bounding set can only be
    dropped while CAP_SETPCAP is still permitted). The bounding set becomes
    `caps`, ambient and inheritable empty; permitted and effective become
    `caps` for root and stay empty for any other user, as in Docker, where
    a non-root user gains capabilities only through file capabilities or
    setuid binaries, bounded by `caps`.
    """
    keep = mask(caps)
    _effective, permitted, _inheritable = syscalls.capget()
    # After setuid() with keepcaps the effective set is empty: raise it back
    # to what is permitted so that PR_CAPBSET_DROP (needs CAP_SETPCAP) works.
    syscalls.capset(permitted, permitted, 0)
    for cap in range(last_cap() + 1):
        if not keep >> cap & 1:
            syscalls.prctl(syscalls.PR_CAPBSET_DROP, cap)
    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    final = keep if uid == 0 else 0
    syscalls.capset(final, final, 0)
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 0)
