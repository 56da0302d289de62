"""Shell pane benchmark: `seq 1 100000` in the real UI until the prompt returns.

The app runs in tmux from a regular (non-editable) install on Debian's
/usr/bin/python3 (`common.regular_install`), over a private TUIDOCK_ROOT
with one running container of the fixture busybox image (pulled from a
loopback registry). Each run opens the container's shell pane with `e`,
which runs `tuidock exec -it` in a PTY rendered by the pane's emulator,
sets a prompt the screen cannot otherwise show, sends `seq 1 100000` and
times from the Enter key until the screen shows 100000 with the prompt on
the next row. The figure is the median over --runs runs (goal <= 0.5 s);
--ref REF measures a git commit of this repository instead of the tree.

The tmux session, the container and the data root are removed at the end.

    sudo .venv/bin/python bench/shell_bench.py [--runs 7] [--ref main]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import regular_install

from tuidock.demo import imagebuild
from tuidock.demo.registry import LocalRegistry

PROMPT = "SEQ-READY$ "
COUNT = 100_000


def cli(python: Path, env: dict, *args: str) -> str:
    res = subprocess.run(
        [str(python), "-m", "tuidock", *args], env=env, capture_output=True, text=True, check=False
    )
    if res.returncode:
        raise RuntimeError(f"tuidock {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout.strip()


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def wait_for(session: str, test, what: str, timeout: float = 30) -> float:  # type: ignore[no-untyped-def]
    """Polls the screen until `test(lines)`; returns the perf_counter when it held."""
    start = time.perf_counter()
    while True:
        lines = tmux("capture-pane", "-p", "-t", session).splitlines()
        if test(lines):
            return time.perf_counter()
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"no {what} within {timeout} s:\n" + "\n".join(lines))
        time.sleep(0.005)


def seq_done(lines: list[str]) -> bool:
    """The last number on a row of its own, the fresh prompt on the row below."""
    for above, below in itertools.pairwise(lines):
        if (
            above.rstrip(" │┃|").endswith(str(COUNT))
            and "seq" not in above
            and PROMPT.strip() in below
            and "seq" not in below
        ):
            return True
    return False


def measure(python: Path, env: dict, cwd: str, name: str, runs: int) -> list[float]:
    session = f"tuidock-shell-bench-{uuid.uuid4().hex[:8]}"
    envs = [f"{k}={env[k]}" for k in ("TUIDOCK_ROOT", "TUIDOCK_CONFIG")]
    cmd = ["env", *envs, str(python), "-m", "tuidock"]
    tmux("new-session", "-d", "-s", session, "-c", cwd, "-x", "160", "-y", "50", *cmd)
    tmux("resize-window", "-t", session, "-x", "160", "-y", "50")
    times: list[float] = []
    try:
        wait_for(session, lambda ls: any(name in x for x in ls), "container row")
        tmux("send-keys", "-t", session, "e")
        # busybox sh's own prompt ends in "# "; then ours, unique on the screen.
        wait_for(session, lambda ls: any(x.rstrip().endswith("#") for x in ls[-30:]), "shell")
        tmux("send-keys", "-t", session, "-l", f"PS1='{PROMPT}'")
        tmux("send-keys", "-t", session, "Enter")
        wait_for(session, lambda ls: any(PROMPT.strip() in x for x in ls), "our prompt")
        for _ in range(runs):
            tmux("send-keys", "-t", session, "-l", "clear")
            tmux("send-keys", "-t", session, "Enter")
            time.sleep(0.5)
            tmux("send-keys", "-t", session, "-l", f"seq 1 {COUNT}")
            start = time.perf_counter()
            tmux("send-keys", "-t", session, "Enter")
            times.append(wait_for(session, seq_done, "prompt after seq") - start)
            print(f"  seq 1 {COUNT}: {times[-1]:.2f} s", flush=True)
            time.sleep(0.5)
    finally:
        tmux("kill-session", "-t", session)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--ref", help="a git commit to measure instead of the tree")
    ap.add_argument("--work", default="/var/tmp/tuidock-shellbench")
    args = ap.parse_args()
    if not shutil.which("tmux"):
        print("tmux is needed (apt-get install tmux)", file=sys.stderr)
        return 1
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    python = regular_install(work, args.ref) / "python"
    base = Path(tempfile.mkdtemp(dir=work, prefix="td-"))
    # The app runs from here: `python -m` must not find the checkout's package first.
    env = dict(os.environ, TUIDOCK_ROOT=str(base / "root"), TUIDOCK_CONFIG=str(base / "cfg"))
    env.pop("PYTHONPATH", None)
    layout, tag = imagebuild.build_busybox(work / "images")
    name = f"shellbench-{uuid.uuid4().hex[:6]}"
    try:
        with LocalRegistry(workdir=work / "registry") as reg:
            ref = f"{reg.host}/bench/busybox:latest"
            layout.push(tag, ref)
            cli(python, env, "pull", "-q", ref)
        cli(python, env, "run", "-d", "--name", name, ref, "sleep", "3600")
        times = measure(python, env, str(base), name, args.runs)
    finally:
        ids = cli(python, env, "ps", "-aq").split()
        if ids:
            cli(python, env, "rm", "-f", *ids)
        shutil.rmtree(base, ignore_errors=True)
    what = args.ref or "this tree"
    print(
        f"seq 1 {COUNT} in the shell pane until the prompt ({what}): "
        f"median {statistics.median(times):.2f} s of {len(times)} "
        f"(min {min(times):.2f}, max {max(times):.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
