"""Runs one container the way the monitor will, in a fresh single-threaded process.

Reads a JSON job on stdin, prints a JSON result on stdout. Used by
tests/runtime/linux/test_isolation.py: pytest may have threads, and spawn() must fork
from a single-threaded process that makes one pid namespace.

Job keys: "spec" (ContainerSpec fields), "stdin" (text fed to the
container), "timeout" (s, then SIGKILL), "signal_after" ([delay, signo]
to PID 1), "stats_after" (delay before sampling the cgroup), "unified"
(use the cgroup2 tree alone, as on a pure-v2 host), "init_binary"
(override isolation.INIT_BINARY), "pids_probe_after" (delay before listing
the cgroup's pids), "bench" (only time spawn() to the exit of PID 1).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository

from tuidock.core.spec import ContainerSpec, Limits, MountSpec
from tuidock.errors import TuidockError
from tuidock.runtime.container.init import spawn as isolation
from tuidock.runtime.linux import cgroups


def _mounts(container_dir: str) -> list[str]:
    """Host mounts that mention the container's directory (other processes
    on the machine may mount and unmount things meanwhile)."""
    with open("/proc/self/mountinfo") as f:
        return sorted(line.strip() for line in f if container_dir in line)


def _cgroup_dirs(container_id: str) -> list[str]:
    found = []
    for base in Path("/sys/fs/cgroup").iterdir():
        for candidate in (base / "tuidock" / container_id,):
            if candidate.is_dir():
                found.append(str(candidate))
    return found


def _layout(job: dict) -> cgroups.Layout | None:
    if not job.get("unified"):
        return None
    detected = cgroups.detect_layout()
    if detected.version == "v2":
        return detected
    point = "/sys/fs/cgroup/unified"
    ctl = cgroups._v2_controllers(point)
    return cgroups.Layout("v2", (cgroups.Hierarchy(point, ctl, True),))


def main() -> int:
    job = json.load(sys.stdin)
    data = dict(job["spec"])
    data["mounts"] = [MountSpec(**m) for m in data.get("mounts", [])]
    data["limits"] = Limits(**data.get("limits", {}))
    spec = ContainerSpec(**data)
    if "init_binary" in job:
        isolation.INIT_BINARY = job["init_binary"]
    container_dir = os.path.dirname(os.path.abspath(spec.rootfs))
    result: dict = {"mounts_before": _mounts(container_dir)}
    cg = cgroups.ContainerCgroup.create(spec.id, spec.limits, layout=_layout(job))
    result["cgroup_dirs"] = [str(p) for p in cg.dirs.values()]
    in_r, in_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    started = time.perf_counter()
    try:
        try:
            spawned = isolation.spawn(spec, cg, None if spec.terminal else (in_r, out_w, err_w))
        except TuidockError as e:
            result["error"] = str(e)
            result["error_type"] = type(e).__name__
            result["error_exit_code"] = e.exit_code
            return 0
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        result["spawn_ms"] = (time.perf_counter() - started) * 1000
        result["pid"] = spawned.pid
        if job.get("bench"):
            # Latency only: nothing between spawn and the blocking wait.
            _pid, status = os.waitpid(spawned.pid, 0)
            result["run_ms"] = (time.perf_counter() - started) * 1000
            result["exit_code"] = os.waitstatus_to_exitcode(status)
            for fd in (in_w, out_r, err_r):
                os.close(fd)
            return 0
        _drive(job, spec, cg, spawned, in_w, out_r, err_r, started, result)
        result["oom_killed"] = cg.oom_killed()
    finally:
        cg.destroy()
        result["mounts_after"] = _mounts(container_dir)
        result["cgroup_left"] = _cgroup_dirs(spec.id)
        json.dump(result, sys.stdout)
    return 0


def _drive(
    job: dict,
    spec: ContainerSpec,
    cg: cgroups.ContainerCgroup,
    spawned: isolation.Spawned,
    in_w: int,
    out_r: int,
    err_r: int,
    started: float,
    result: dict,
) -> None:
    """Feed stdin, collect output, fire timed actions, reap PID 1."""
    out_fd = spawned.pty_master if spawned.pty_master is not None else out_r
    feed = job.get("stdin", "").encode()
    if spawned.pty_master is not None:
        os.write(spawned.pty_master, feed)
        os.close(in_w)
        os.close(out_r)
    elif feed:
        os.write(in_w, feed)
        os.close(in_w)
    else:
        os.close(in_w)
    sel = selectors.DefaultSelector()
    outputs = {out_fd: bytearray()}
    sel.register(out_fd, selectors.EVENT_READ)
    if spawned.pty_master is None:
        outputs[err_r] = bytearray()
        sel.register(err_r, selectors.EVENT_READ)
    else:
        os.close(err_r)
    deadline = started + job.get("timeout", 20)
    actions = []
    if job.get("signal_after"):
        delay, signo = job["signal_after"]
        actions.append((started + delay, "signal", signo))
    if job.get("stats_after") is not None:
        actions.append((started + job["stats_after"], "stats", None))
    if job.get("pids_probe_after") is not None:
        actions.append((started + job["pids_probe_after"], "pids", None))
    actions.sort()
    status = None
    while status is None:
        now = time.perf_counter()
        while actions and actions[0][0] <= now:
            _when, kind, arg = actions.pop(0)
            if kind == "signal":
                os.kill(spawned.pid, arg)
            elif kind == "stats":
                result["stats"] = cg.stats().as_dict()
            elif kind == "pids":
                result["pids"] = cg.pids()
        if now > deadline:
            os.kill(spawned.pid, signal.SIGKILL)
            result["timed_out"] = True
            deadline = float("inf")
        wait = min([0.05] + [a[0] - now for a in actions])
        for key, _ in sel.select(max(wait, 0)):
            try:
                chunk = os.read(key.fd, 65536)
            except OSError:  # EIO: the pty's last slave closed
                chunk = b""
            if chunk:
                outputs[key.fd] += chunk
            else:
                sel.unregister(key.fd)
        pid, raw = os.waitpid(spawned.pid, os.WNOHANG)
        if pid:
            status = raw
    result["run_ms"] = (time.perf_counter() - started) * 1000
    for fd in list(outputs):
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                outputs[fd] += chunk
        except OSError:
            pass
        os.close(fd)
    result["exit_code"] = os.waitstatus_to_exitcode(status)
    result["stdout"] = outputs[out_fd].decode(errors="replace")
    result["stderr"] = outputs.get(err_r, bytearray()).decode(errors="replace")


if __name__ == "__main__":
    sys.exit(main())
