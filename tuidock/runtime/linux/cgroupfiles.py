"""Where a process's cgroups are, and starting a cgroup move's wait early.

`targets` maps a /proc/<pid>/cgroup text onto our mounts of the
hierarchies (v1, v2 and hybrid alike): the cgroup.procs files to write a
pid into so that it joins the same cgroups.

`prewarm`: the first write to any cgroup.procs file waits for an RCU
grace period (the kernel's cgroup_threadgroup_rwsem, 5-20 ms); a move
that follows within about one more grace period is quick. A helper
process that moves itself into the cgroup it is already in changes
nothing but starts that wait at once, so exec's real move of its child,
a few ms later, does not pay for it. It is a process, not a thread: exec
forks afterwards and must stay single-threaded.

Imports nothing but os: exec forks the helper before loading anything else.
"""

from __future__ import annotations

import os


def prewarm() -> int:
    """Start the helper; its pid (0 if it could not start). Reap it with `wait`."""
    try:
        pid = os.fork()
    except OSError:
        return 0
    if pid == 0:
        try:
            with open("/proc/self/cgroup", encoding="utf-8", errors="surrogateescape") as f:
                files = targets(f.read(), mountinfo())
            if files:
                fd = os.open(files[0], os.O_WRONLY | os.O_CLOEXEC)
                os.write(fd, str(os.getpid()).encode())
        finally:
            os._exit(0)  # only ever an optimisation: whatever failed, nothing to say
    return pid


def wait(pid: int) -> None:
    """Reap the helper: once it is gone, the grace period has passed."""
    if pid:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


_mountinfo: str | None = None


def mountinfo() -> str:
    """Our /proc/self/mountinfo, read once per process."""
    global _mountinfo
    if _mountinfo is None:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            _mountinfo = f.read()
    return _mountinfo


def targets(membership: str, mountinfo: str) -> list[str]:
    """The cgroup.procs files, under our mounts, of the cgroups in `membership`
    (a /proc/<pid>/cgroup text). Hierarchies we have not mounted are skipped."""
    mounts: list[tuple[str, str, str, set[str]]] = []  # (root, mountpoint, fstype, options)
    for line in mountinfo.splitlines():
        head, _, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
            continue
        mounts.append(
            (_unescape(fields[3]), _unescape(fields[4]), rest[0], set(rest[2].split(",")))
        )
    # A hierarchy mounted at its root wins over bind mounts of a subtree.
    mounts.sort(key=lambda m: m[0] != "/")
    targets: list[str] = []
    for line in membership.splitlines():
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not hid or not path.startswith("/") or path.endswith(" (deleted)"):
            continue
        if hid == "0" and not controllers:
            candidates = [m for m in mounts if m[2] == "cgroup2"]
        else:
            want = set(controllers.split(","))
            candidates = [m for m in mounts if m[2] == "cgroup" and want <= m[3]]
        for root, point, _, _ in candidates:
            if root == "/":
                rel = path
            elif path == root or path.startswith(root + "/"):
                rel = path[len(root) :]
            else:
                continue
            target = point.rstrip("/") + rel.rstrip("/") + "/cgroup.procs"
            if target not in targets:
                targets.append(target)
            break
    return targets


def _unescape(text: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes.
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1 : i + 4].isdigit():
            out.append(chr(int(text[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
