"""The logs pane while a container floods its log: keypress latency and RSS.

One container of the embedded engine writes about --rate MB/s of 100-byte
lines (busybox `yes | head -c` bursts every 0.1 s); the app runs in a real
terminal (tmux, 160x48) with the logs pane following it. Measured, and printed:

- the log's real write rate (ctr.log's growth; the monitor may not keep up);
- keypress to screen update: `t` (timestamps) sent by tmux until the pane's
  title shows the flag flip, median and worst of --keys presses (goal < 100 ms);
  with --focus, `2` and `3` in turn (containers list, logs) until the footer
  shows the other pane's keys: a focus switch restyles panes and the footer;
- the app's RSS, sampled through the flood: the peak and the last;
- the app's CPU over the flood (all its threads, % of a core): on a quiet
  machine keys answer fast either way, under load this is what competes.

--baseline SRC alternates each round with the tuidock package in SRC (e.g.
`git archive REV tuidock assets | tar -x -C SRC`), so a change is compared
under the same machine load.

    .venv/bin/python bench/logflood_bench.py [--seconds 20] [--keys 30] [--focus] [--baseline SRC]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ui_bench import PY, app_pid, capture, cpu_ticks, rss_mb, tuidock

from tuidock.demo import imagebuild
from tuidock.demo.registry import LocalRegistry

LINE = "flood " + "abcdefghijklmnopqrstuvwxyz0123456789" * 2 + " the quick brown fox jumps"  # 100 B


def flood_script(rate_mb: float) -> str:
    burst = int(rate_mb * 100_000)  # bytes per 0.1 s
    return f"while true; do yes '{LINE}' | head -c {burst}; sleep 0.1; done"


class Written:
    """Bytes appended to ctr.log across rotations (polled often enough to see
    each: one rotation per 10 MB)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        while True:
            try:
                st = log.stat()
                break
            except FileNotFoundError:  # mid-rotation: the new file comes at once
                time.sleep(0.01)
        self.ino, self.size, self.total = st.st_ino, st.st_size, 0

    def poll(self) -> None:
        try:
            st = self.log.stat()
            old = (self.log.parent / "ctr.log.1").stat().st_size
        except FileNotFoundError:
            return  # mid-rotation: the next poll sees it
        if st.st_ino != self.ino:  # rotated: the old file ended at about its last size seen
            self.total += max(0, old - self.size)
            self.ino, self.size = st.st_ino, 0
        self.total += st.st_size - self.size
        self.size = st.st_size


def title_flag(screen: str) -> bool:
    title = next((row for row in screen.splitlines() if "Logs: " in row), "")
    return "timestamps" in title


def footer(screen: str) -> str:
    rows = screen.rstrip("\n").splitlines()
    return rows[-1] if rows else ""


def press(session: str, key: str, shown: Callable[[str], object]) -> float:
    """Seconds from `key` sent until `shown` of the screen changes (5 s at most)."""
    was = shown(capture(session))
    t = time.perf_counter()
    subprocess.run(["tmux", "send-keys", "-t", session, key], check=True)
    while shown(capture(session)) == was and time.perf_counter() - t < 5:
        pass
    return time.perf_counter() - t


def measure(env: dict, cid: str, args: argparse.Namespace, src: str | None) -> dict[str, float]:
    session = f"tuidock-flood-{uuid.uuid4().hex[:8]}"
    cwd = src or str(Path(__file__).resolve().parent.parent)
    envs = [f"{k}={env[k]}" for k in ("TUIDOCK_ROOT", "TUIDOCK_CONFIG")] + [f"PYTHONPATH={cwd}"]
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
            "160",
            "-y",
            "48",
            "env",
            *envs,
            PY,
            "-m",
            "tuidock",
        ],
        check=True,
    )
    subprocess.run(
        ["tmux", "resize-window", "-t", session, "-x", "160", "-y", "48"],
        capture_output=True,
        check=False,
    )
    log = Path(env["TUIDOCK_ROOT"]) / "containers" / cid / "ctr.log"
    res: dict[str, float] = {}
    try:
        start = time.monotonic()
        while "flood abcdef" not in capture(session):
            if time.monotonic() - start > 60:
                raise RuntimeError("the flood never showed:\n" + capture(session))
            time.sleep(0.05)
        pid = app_pid(session)
        subprocess.run(["tmux", "send-keys", "-t", session, "3"], check=True)
        time.sleep(1)
        rss: list[float] = []
        lat: list[float] = []
        spy = None
        if args.spy:  # a sampling profile of every thread while the keys are timed
            out = Path(args.work) / f"profile-{'base' if src else 'tree'}.txt"
            spy = subprocess.Popen(
                [
                    args.spy,
                    "record",
                    "-p",
                    str(pid),
                    "-d",
                    str(int(args.seconds)),
                    "--threads",
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    "-o",
                    str(out),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        written = Written(log)
        t0, c0 = time.monotonic(), cpu_ticks(pid)
        deadline = t0 + args.seconds
        while len(lat) < args.keys or time.monotonic() < deadline:
            if args.focus:  # the logs are focused after an odd count of switches
                lat.append(press(session, "2" if len(lat) % 2 == 0 else "3", footer))
            else:
                lat.append(press(session, "t", title_flag))
            rss.append(rss_mb(pid))
            written.poll()
            time.sleep(0.3)
        written.poll()
        elapsed = time.monotonic() - t0
        res["rate"] = written.total / elapsed / 1e6
        # The app's CPU (all threads): what a loaded machine has to find for it.
        res["cpu"] = (cpu_ticks(pid) - c0) / os.sysconf("SC_CLK_TCK") / elapsed * 100
        res["key"] = statistics.median(lat)
        res["key_max"] = max(lat)
        res["rss_peak"] = max(rss)
        res["rss_last"] = rss[-1]
        if spy is not None:
            spy.wait()
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        time.sleep(1)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=float, default=10.0, help="MB/s the container writes")
    ap.add_argument("--seconds", type=float, default=20.0, help="least flood time measured")
    ap.add_argument("--keys", type=int, default=30, help="least keypresses timed")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--focus", action="store_true", help="time focus switches (2, 3), not `t`")
    ap.add_argument("--baseline", help="directory with another tuidock package to alternate with")
    ap.add_argument("--spy", help="a py-spy binary: also write a sampled profile to --work")
    ap.add_argument("--work", default="/var/tmp/tuidock-floodbench")
    args = ap.parse_args()
    if not shutil.which("tmux"):
        print("tmux is needed (apt-get install tmux)", file=sys.stderr)
        return 1
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(dir=work, prefix="td-"))
    env = dict(os.environ, TUIDOCK_ROOT=str(base / "root"), TUIDOCK_CONFIG=str(base / "cfg"))
    layout, tag = imagebuild.build_busybox(work / "images")
    sources: dict[str, str | None] = {"this tree": None}
    if args.baseline:
        sources = {"baseline": str(Path(args.baseline).resolve()), "this tree": None}
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in sources}
    try:
        with LocalRegistry(workdir=work / "registry") as reg:
            ref = f"{reg.host}/bench/busybox:latest"
            layout.push(tag, ref)
            tuidock(env, "pull", "-q", ref)
        cid = tuidock(env, "run", "-d", "--name", "flood", ref, "sh", "-c", flood_script(args.rate))
        for i in range(args.rounds):
            for label, src in sources.items():
                r = measure(env, cid, args, src)
                runs[label].append(r)
                print(f"round {i + 1} {label}: {r}", flush=True)
    finally:
        ids = tuidock(env, "ps", "-aq").split()
        if ids:
            tuidock(env, "rm", "-f", *ids)
        shutil.rmtree(base, ignore_errors=True)
    for label, rs in runs.items():
        med = {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        print(
            f"{label}: log written at {med['rate']:.1f} MB/s; keypress to screen "
            f"median {med['key'] * 1000:.0f} ms, worst {med['key_max'] * 1000:.0f} ms; "
            f"RSS peak {med['rss_peak']:.0f} MB, last {med['rss_last']:.0f} MB; "
            f"app CPU {med['cpu']:.0f}% of a core"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
