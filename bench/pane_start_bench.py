"""The shell pane's sessions on Docker and Podman: time from the session's start to
the first byte of the shell's prompt, this tree against a git ref (the SDK path).

The pane runs `python -m tuidock.backends.dockerexec HOST CONTAINER /bin/sh` (a
shell, `e`) or `python -m tuidock.backends.attachrelay HOST CONTAINER` (an attach,
`a`) in a PTY of its own (backends/docker.py exec_argv, attach_command). Each run
here does the same: the argv on a fresh 24x80 PTY, timed from the fork until the
first byte the program writes; the shell then gets `exit` (exec) or the detach
keys (attach). The attach session gets a CR typed at once (kept in the PTY, not
echoed, until the relay reads it), so the shell in the container prints a prompt.

Both trees are regular (non-editable) installs into venvs of Debian's
/usr/bin/python3 (common.regular_install): this tree, and --ref (default main)
for the before figure. `docker exec -it` on the same engine is the yardstick.
A private dockerd and a private Podman service are started as the tests start
theirs (tests/rig/engines.py); busybox comes from a loopback registry. Cases are
alternated in a shuffled order each round; medians.

    .venv/bin/python bench/pane_start_bench.py [--runs 20] [--ref main] [--work /var/tmp/tdpb]
"""

from __future__ import annotations

import argparse
import os
import pty
import random
import select
import statistics
import struct
import sys
import termios
import time
from fcntl import ioctl
from pathlib import Path

from common import REPO, regular_install, run

from tuidock.demo import imagebuild
from tuidock.demo.registry import LocalRegistry

sys.path.insert(0, str(REPO / "tests"))
from rig.engines import start_dockerd, start_podman

SHELL = "tuidock-panebench-sh"  # exec's target: `sleep`
TTY = "tuidock-panebench-it"  # attach's target: `sh` with -it


def first_byte(argv: list[str], env: dict, typed: bytes, leave: bytes) -> float:
    """Seconds from the fork of `argv` on a 24x80 PTY to its first output byte;
    `typed` is written at once, `leave` once the byte came; the child is reaped."""
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        os.execve(argv[0], argv, env)
    try:
        if typed:
            # Not echoed by the PTY (set on the master, before the key: the first
            # byte is the program's).
            mode = termios.tcgetattr(fd)
            mode[3] &= ~termios.ECHO
            termios.tcsetattr(fd, termios.TCSANOW, mode)
            os.write(fd, typed)
        if not select.select([fd], [], [], 30)[0]:
            raise RuntimeError(f"no output from {argv}")
        took = time.perf_counter() - start
        os.read(fd, 4096)
        os.write(fd, leave)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and select.select([fd], [], [], 1)[0]:
            try:
                if not os.read(fd, 4096):
                    break
            except OSError:
                break  # EIO: the child closed its side
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--ref", default="main")
    ap.add_argument("--work", default="/var/tmp/tdpb")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    trees = {"this tree": regular_install(work), args.ref: regular_install(work, args.ref)}
    os.chdir(work)  # not the source tree first on sys.path
    layout, tag = imagebuild.build_busybox(work / "images")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["TERM"] = "xterm"
    with LocalRegistry(workdir=work / "registry") as reg:
        ref = f"{reg.host}/bench/busybox:latest"
        layout.push(tag, ref)
        for start in (start_dockerd, start_podman):
            engine = start(reg.host)
            try:
                _bench(engine, ref, trees, env, args.runs)
            finally:
                engine.stop()
    return 0


def _bench(engine, ref: str, trees: dict[str, Path], env: dict, runs: int) -> None:  # type: ignore[no-untyped-def]
    host = engine.host
    docker = ["docker", "-H", host]
    run([*docker, "pull", "-q", ref], env)
    run([*docker, "run", "-d", "--network", "none", "--name", SHELL, ref, "sleep", "3600"])
    run([*docker, "run", "-dit", "--network", "none", "--name", TTY, ref, "sh"])
    cases: dict[str, tuple[list[str], bytes, bytes]] = {}
    for tree, bindir in trees.items():
        python = str(bindir / "python")
        exec_argv = [python, "-m", "tuidock.backends.dockerexec", host, SHELL, "/bin/sh"]
        attach_argv = [python, "-m", "tuidock.backends.attachrelay", host, TTY]
        cases[f"shell ({tree})"] = (exec_argv, b"", b"exit\r")
        cases[f"attach ({tree})"] = (attach_argv, b"\r", b"\x10\x11")
    cases["docker exec -it"] = ([*_which("docker"), "-H", host, "exec", "-it", SHELL, "sh"],
                                b"", b"exit\r")  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    shuffle = random.Random(7).shuffle
    for i in range(runs + 2):
        shuffle(names)
        for name in names:
            argv, typed, leave = cases[name]
            took = first_byte(argv, env, typed, leave)
            if i >= 2:  # the first two rounds warm the caches
                times[name].append(took)
    print(f"first prompt byte, medians of {runs} rounds, ms (private {engine.name}, {host})")
    for name in cases:
        print(f"  {name:28s}{statistics.median(times[name]) * 1000:8.1f}")
    print(flush=True)
    run([*docker, "rm", "-f", SHELL, TTY], env)


def _which(name: str) -> list[str]:
    import shutil

    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found")
    return [found]


if __name__ == "__main__":
    raise SystemExit(main())
