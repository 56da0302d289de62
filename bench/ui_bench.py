"""UI benchmark: the app in a real terminal (tmux) with N images and N running containers.

Measures, and prints:
- time to first full paint: process start until the screen shows every
  image row and the header counts all containers running;
- idle CPU of the app over a period (goal <= 3% of a core with 50 containers)
  while the containers are just started: each round restarts them all at
  once first, so their uptimes read "N seconds" (the costly case: the UP
  column of every row changes by itself) through the measurement;
- RSS after that (goal <= 150 MB);
- keypress-to-update latency: `j`/`k` sent by tmux until the screen changes;
- `seq 1 100000` through the shell pane's terminal widget alone (the whole
  route, `tuidock exec -it` in the real UI, is bench/shell_bench.py).

The app is a regular (non-editable) install of this tree on Debian's
/usr/bin/python3 (`common.regular_install`); the containers are the embedded
engine's (run as root), from the fixture busybox image pulled from a
loopback registry into a private data root. The containers and the tmux
session made here are removed at the end.

The machine may be busy with other work: --rounds starts the app several
times and reports medians, and --baseline REF alternates each round with
a regular install of the git commit REF (e.g. main), so that a change is
compared under the same load.

    sudo .venv/bin/python bench/ui_bench.py [-n 50] [--idle 30] [--rounds 1] [--baseline REF]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import regular_install

from tuidock.demo import imagebuild
from tuidock.demo.registry import LocalRegistry

PY = sys.executable
LOOP = "while true; do sleep 1; done"


def tuidock(env: dict, *args: str) -> str:
    res = subprocess.run(
        [PY, "-m", "tuidock", *args], env=env, capture_output=True, text=True, check=False
    )
    if res.returncode:
        raise RuntimeError(f"tuidock {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout.strip()


def capture(session: str, escapes: bool = False) -> str:
    cmd = ["tmux", "capture-pane", "-p", "-t", session]
    if escapes:
        cmd.insert(3, "-e")
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime of the process


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def app_pid(session: str) -> int:
    out = subprocess.run(
        ["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.split()[0])


def all_at_once(env: dict, *commands: tuple[str, ...]) -> None:
    """The CLI commands run side by side (20 at a time)."""
    with ThreadPoolExecutor(20) as pool:
        for _ in pool.map(lambda args: tuidock(env, *args), commands):
            pass


def measure_terminal(env: dict, n: int, idle: float, python: Path) -> dict[str, float]:
    """One start of the app: first paint (s), idle CPU (% of a core), RSS (MB), key latency (s)."""
    session = f"tuidock-bench-{uuid.uuid4().hex[:8]}"
    results: dict[str, float] = {}
    envs = [f"{k}={env[k]}" for k in ("TUIDOCK_ROOT", "TUIDOCK_CONFIG")]
    # `python -m` imports from its working directory first: the pane starts in
    # the data root, where no tuidock/ shadows the installed package.
    cwd = str(Path(env["TUIDOCK_ROOT"]).parent)
    # Just started: the uptimes read seconds all through the measurement.
    all_at_once(env, *(("restart", "-t", "0", f"bench{i:02d}") for i in range(n)))
    start = time.perf_counter()
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-c",
            cwd,
            "-x",
            "200",
            "-y",
            "60",
            "env",
            *envs,
            str(python),
            "-m",
            "tuidock",
        ],
        check=True,
    )
    subprocess.run(
        ["tmux", "resize-window", "-t", session, "-x", "200", "-y", "60"],
        capture_output=True,
        check=False,
    )
    try:
        want = f"2 Containers ({n} running / {n})"
        while True:
            screen = capture(session)
            if want in screen and f"1 Images ({n})" in screen:
                break
            if time.perf_counter() - start > 60:
                raise RuntimeError("no full paint within 60 s:\n" + screen)
            time.sleep(0.01)
        results["paint"] = time.perf_counter() - start
        pid = app_pid(session)
        time.sleep(3)  # let the first stats ticks settle
        t0, c0 = time.perf_counter(), cpu_ticks(pid)
        time.sleep(idle)
        t1, c1 = time.perf_counter(), cpu_ticks(pid)
        pct = (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0) * 100
        results["cpu"] = pct
        results["rss"] = rss_mb(pid)
        latencies = []
        for i in range(20):
            before = capture(session, escapes=True)
            t = time.perf_counter()
            subprocess.run(
                ["tmux", "send-keys", "-t", session, "j" if i % 2 == 0 else "k"], check=True
            )
            while capture(session, escapes=True) == before:
                if time.perf_counter() - t > 2:
                    break
            latencies.append(time.perf_counter() - t)
            time.sleep(0.2)
        results["key"] = statistics.median(latencies)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        time.sleep(1)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)
    return results


def measure_seq(count: int = 100_000) -> str:
    """`seq 1 N` in the shell pane's widget until the last number is on its screen."""
    from textual.app import App, ComposeResult

    from tuidock.widgets.shell import ShellTerminal

    result: dict[str, float] = {}

    class SeqApp(App[None]):
        def compose(self) -> ComposeResult:
            yield ShellTerminal(["seq", "1", str(count)], "bench", "seq")

        def on_mount(self) -> None:
            self.t0 = time.perf_counter()

        def on_shell_terminal_process_exited(self) -> None:
            self.exited = time.perf_counter()

    async def go() -> None:
        app = SeqApp()
        async with app.run_test(size=(120, 40)) as pilot:
            term = app.query_one(ShellTerminal)
            while not any(line.strip() == str(count) for line in term.screen_lines()):
                await pilot.pause(0.05)
                if time.perf_counter() - app.t0 > 60:
                    raise RuntimeError("seq did not finish in 60 s")
            result["t"] = time.perf_counter() - app.t0

    asyncio.run(go())
    return f"{result['t']:.2f} s"


def compare(env: dict, args: argparse.Namespace) -> dict[str, str]:
    work = Path(args.work)
    sources = {"": regular_install(work) / "python"}
    if args.baseline:
        sources = {f"{args.baseline} ": regular_install(work, args.baseline) / "python", **sources}
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in sources}
    for i in range(args.rounds):
        for label, python in sources.items():
            r = measure_terminal(env, args.n, args.idle, python)
            runs[label].append(r)
            print(f"round {i + 1} {label or 'this tree '}idle CPU {r['cpu']:.2f}%", flush=True)
    results: dict[str, str] = {}
    of = f" (median of {args.rounds})" if args.rounds > 1 else ""
    for label, rs in runs.items():
        med = {key: statistics.median(r[key] for r in rs) for key in rs[0]}.__getitem__
        results[f"{label}first full paint{of}"] = f"{med('paint'):.2f} s"
        results[f"{label}idle CPU over {args.idle:.0f} s{of}"] = f"{med('cpu'):.2f}% of a core"
        results[f"{label}RSS{of}"] = f"{med('rss'):.0f} MB"
        key = f"{label}keypress to screen update (median of 20, incl. tmux){of}"
        results[key] = f"{med('key') * 1000:.0f} ms"
    return results


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("-n", type=int, default=50, help="images and running containers")
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measurement")
    ap.add_argument("--rounds", type=int, default=1, help="app starts measured (medians)")
    ap.add_argument("--baseline", help="a git commit to alternate with (a regular install of it)")
    ap.add_argument("--work", default="/var/tmp/tuidock-uibench")
    args = ap.parse_args()
    if not shutil.which("tmux"):
        print("tmux is needed (apt-get install tmux)", file=sys.stderr)
        return 1
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(dir=work, prefix="td-"))
    env = dict(os.environ, TUIDOCK_ROOT=str(base / "root"), TUIDOCK_CONFIG=str(base / "cfg"))
    results: dict[str, str] = {}
    layout, tag = imagebuild.build_busybox(work / "images")
    try:
        with LocalRegistry(workdir=work / "registry") as reg:
            ref = f"{reg.host}/bench/busybox:latest"
            layout.push(tag, ref)
            tuidock(env, "pull", "-q", ref)
        t = time.perf_counter()
        for i in range(1, args.n):
            tuidock(env, "tag", ref, f"bench/image{i:02d}:v{i}")
        all_at_once(
            env,
            *(
                ("run", "-d", "--name", f"bench{i:02d}", ref, "sh", "-c", LOOP)
                for i in range(args.n)
            ),
        )
        print(f"setup: {args.n} images, {args.n} containers in {time.perf_counter() - t:.1f} s")
        results.update(compare(env, args))
    finally:
        ids = tuidock(env, "ps", "-aq").split()
        if ids:
            tuidock(env, "rm", "-f", *ids)
        shutil.rmtree(base, ignore_errors=True)
    results["seq 1 100000 through the shell pane"] = measure_seq()
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
