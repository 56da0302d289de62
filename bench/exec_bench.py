"""`exec CONTAINER true`: tuidock vs podman (and docker when its daemon answers).

One busybox image from a local registry (tuidock.demo's LocalRegistry and
demo images), one running `sleep 300` container per tool, then --runs
rounds that run every command once each, in a shuffled order, so that
all of them see the same machine load (this one is shared and noisy);
medians after two warm-up rounds. tuidock runs as `python -m tuidock`, bytecode compiled
once, twice: from this venv (an editable install, whose import hook costs
every start ~25 ms) and from a venv holding a plain copy of the package,
as `pip install .` and scripts/install.sh leave it. Also timed: the floor
of starting each Python at all.

    .venv/bin/python bench/exec_bench.py [--runs 30] [--work /var/tmp/tdxb]

podman 4.3 needs here: cgroupfs, the file events logger, explicit ulimits
(root lacks CAP_SYS_RESOURCE), `--runtime runc` (crun refuses this host's
hybrid cgroups) and a short --runroot (its sockets' paths must fit).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from common import ratio, run, timed_run

from tuidock.demo.imagebuild import push_demo_images
from tuidock.demo.registry import LocalRegistry

PODMAN_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
GOAL = 0.3  # at most 0.3x podman's median
NAME = "tuidock-execbench"
SRC = Path(__file__).resolve().parent.parent / "tuidock"

Command = tuple[list[str], dict | None]


def _installed_copy(work: Path) -> str:
    """A venv holding a plain copy of the package, as `pip install .` leaves it."""
    venv = work / "installed-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    target = Path(site) / "tuidock"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(SRC, target, ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(str(target), quiet=1)
    return str(py)


@contextlib.contextmanager
def _tuidock(work: Path, ref: str) -> Iterator[dict[str, Command]]:
    root = Path(tempfile.mkdtemp(dir=work, prefix="td-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(TUIDOCK_ROOT=str(root / "root"), TUIDOCK_CONFIG=str(root / "cfg"))
    py = sys.executable
    compileall.compile_dir(str(SRC), quiet=1)
    installed = _installed_copy(work)
    try:
        run([py, "-m", "tuidock", "pull", "-q", ref], env)
        run([py, "-m", "tuidock", "run", "-d", "--name", NAME, ref, "sleep", "300"], env)
        yield {
            "tuidock exec": ([py, "-m", "tuidock", "exec", NAME, "true"], env),
            "tuidock exec (installed)": ([installed, "-m", "tuidock", "exec", NAME, "true"], env),
            "python -c pass": ([py, "-c", "pass"], None),
            "installed python -c pass": ([installed, "-c", "pass"], None),
            "python -I -S -c pass": ([py, "-I", "-S", "-c", "pass"], None),
        }
    finally:
        subprocess.run(
            [py, "-m", "tuidock", "rm", "-f", NAME], env=env, capture_output=True, check=False
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _podman(work: Path, host: str, ref: str) -> Iterator[dict[str, Command]]:
    if not shutil.which("podman") or not shutil.which("runc"):
        print("(podman or runc not installed: skipped)")
        yield {}
        return
    conf = work / "containers.conf"
    conf.write_text(PODMAN_CONF)
    regs = work / "registries.conf"
    regs.write_text(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n')
    env = dict(os.environ, CONTAINERS_CONF=str(conf), CONTAINERS_REGISTRIES_CONF=str(regs))
    runroot = work / "prun"
    if len(str(runroot)) >= 50:
        raise SystemExit(f"--work is too long for podman's runroot ({runroot}): use a shorter one")
    base = ["podman", "--root", str(work / "podman"), "--runroot", str(runroot)]
    base += ["--storage-driver", "overlay", "--runtime", "runc"]
    subprocess.run([*base, "rm", "-f", NAME], env=env, capture_output=True, check=False)
    try:
        run([*base, "pull", "-q", "--tls-verify=false", ref], env)
        run([*base, "run", "-d", "--network", "none", "--name", NAME, ref, "sleep", "300"], env)
        yield {"podman exec": ([*base, "exec", NAME, "true"], env)}
    finally:
        subprocess.run(
            [*base, "rm", "-f", "-t", "0", NAME], env=env, capture_output=True, check=False
        )


@contextlib.contextmanager
def _docker(ref: str) -> Iterator[dict[str, Command]]:
    if not shutil.which("docker"):
        yield {}
        return
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        print("(docker is installed but its daemon does not answer: skipped)")
        yield {}
        return
    subprocess.run(["docker", "rm", "-f", NAME], capture_output=True, check=False)
    try:
        run(["docker", "pull", "-q", ref])
        run(["docker", "run", "-d", "--network", "none", "--name", NAME, ref, "sleep", "300"])
        yield {"docker exec": (["docker", "exec", NAME, "true"], None)}
    finally:
        subprocess.run(["docker", "rm", "-f", NAME], capture_output=True, check=False)


def _round_robin(commands: dict[str, Command], runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    # A new order every round: what a command leaves running behind it
    # (podman's conmon exits late) slows whichever comes next, so no
    # command should always come next.
    shuffle = random.Random(5).shuffle
    names = list(commands)
    for i in range(runs + 2):
        shuffle(names)
        for name in names:
            cmd, env = commands[name]
            took = timed_run(cmd, env)
            if i >= 2:  # two warm-up rounds
                times[name].append(took)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--work", default="/var/tmp/tdxb")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    # `python -m` looks in the current directory first: from the repository
    # it would run the source tree instead of the installed copy.
    os.chdir(work)
    with LocalRegistry(workdir=work / "registry") as reg, contextlib.ExitStack() as stack:
        refs = push_demo_images(work / "images", reg.host)
        ref = next(r for r in refs if "/busybox:" in r)
        commands: dict[str, Command] = {}
        commands.update(stack.enter_context(_tuidock(work, ref)))
        commands.update(stack.enter_context(_podman(work, reg.host, ref)))
        commands.update(stack.enter_context(_docker(ref)))
        results = _round_robin(commands, args.runs)
    base = results["tuidock exec"]
    for name, secs in results.items():
        print(f"{name:28s} {secs * 1000:8.1f} ms   tuidock/{name.split()[0]} = {ratio(base, secs)}")
    if "podman exec" in results:
        for label in ("tuidock exec", "tuidock exec (installed)"):
            got = results[label] / results["podman exec"]
            verdict = "meets" if got <= GOAL else "misses"
            print(f"{label} / podman exec = {got:.2f}x ({verdict} the {GOAL}x goal)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
