"""Shared pieces of the benchmarks: timing, medians, a big test image."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuidock.demo import imagebuild

REPO = Path(__file__).resolve().parent.parent
# A tree like a distribution's rootfs: many small files, some big ones.
DEFAULT_TREES = ("/usr/lib/python3", "/usr/share/perl", "/usr/share/doc")


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timed_run(cmd: list[str], env: dict | None) -> float:
    """Seconds `cmd` takes; a failure is reported and retried (twice at most)."""
    for attempt in range(3):
        start = time.perf_counter()
        try:
            run(cmd, env)
            return time.perf_counter() - start
        except subprocess.CalledProcessError as exc:
            # podman 4.3 fails an exec now and then under load (exit 255):
            # say so, and time a retry rather than abort the comparison.
            err = exc.stderr.decode(errors="replace").strip()[:200]
            print(f"({cmd[0]} failed, attempt {attempt + 1}: {err})")
    raise SystemExit(f"{' '.join(cmd)} keeps failing")


def median_of(runs: int, fn: Callable[[], None], setup: Callable[[], None] | None = None) -> float:
    times = []
    for _ in range(runs):
        if setup:
            setup()
        times.append(timed(fn))
    return statistics.median(times)


def run(cmd: list[str], env: dict | None = None) -> None:
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if done.returncode:
        err = done.stderr.decode(errors="replace").strip()
        raise SystemExit(f"{' '.join(cmd)}: exit status {done.returncode}\n{err}")


def build_big_image(
    work: Path, trees: tuple[str, ...] = DEFAULT_TREES
) -> tuple[imagebuild.OCILayout, str]:
    """An OCI layout with one big gzip layer holding copies of `trees`."""
    layout = imagebuild.OCILayout(work / "oci").init()
    tag = "big"
    if layout.has(tag):
        return layout, tag
    stage = work / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    for tree in trees:
        if os.path.isdir(tree):
            shutil.copytree(tree, stage / tree.lstrip("/"), symlinks=True)
    layout.new(tag)
    layout.add_layer(tag, imagebuild.dir_to_tar(stage, "/"))
    layout.config(tag, cmd=["/bin/sh"])
    shutil.rmtree(stage)
    return layout, tag


def regular_install(work: Path, ref: str | None = None) -> Path:
    """A venv of Debian's /usr/bin/python3 holding `pip install .` (not editable)
    of this tree, or of the git commit `ref` of this repository.

    Made once under `work`; the package itself is reinstalled on every call, so
    that the bench measures the tree as it is now. Returns the venv's bin dir.
    """
    venv = work / (f"regular-venv-{ref}" if ref else "regular-venv")
    bindir = venv / "bin"
    source = REPO
    if ref is not None:
        source = work / f"src-{ref}"
        shutil.rmtree(source, ignore_errors=True)
        source.mkdir(parents=True)
        tar = subprocess.run(
            ["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=tar, check=True)
    pip = [str(bindir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if not (bindir / "python").exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([*pip, str(source)], check=True, stderr=subprocess.DEVNULL)
    subprocess.run(
        [*pip, "--no-deps", "--force-reinstall", str(source)], check=True, stderr=subprocess.DEVNULL
    )
    return bindir


PODMAN_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def podman_setup(work: Path, host: str) -> tuple[list[str], dict] | None:
    """podman's command (with its store under `work`) and environment; None without podman.

    podman 4.3 needs here: cgroupfs, the file events logger, explicit ulimits
    (root lacks CAP_SYS_RESOURCE), `--runtime runc` (crun refuses this host's
    hybrid cgroups) and the local registry marked insecure.
    """
    if not shutil.which("podman") or not shutil.which("runc"):
        return None
    conf = work / "containers.conf"
    conf.write_text(PODMAN_CONF)
    regs = work / "registries.conf"
    regs.write_text(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n')
    env = dict(os.environ, CONTAINERS_CONF=str(conf), CONTAINERS_REGISTRIES_CONF=str(regs))
    base = ["podman", "--root", str(work / "podman"), "--runroot", str(work / "podman-run")]
    base += ["--storage-driver", "overlay", "--runtime", "runc"]
    return base, env


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def print_results(results: dict[str, float], base: str, width: int = 28) -> None:
    """One line per tool: median milliseconds and how tuidock (`base`) compares."""
    for name, secs in results.items():
        tool = name.split()[0]
        print(
            f"{name:{width}s} {secs * 1000:8.0f} ms   tuidock/{tool} = {ratio(results[base], secs)}"
        )


def big_image_bench_setup(doc: str) -> tuple[argparse.Namespace, Path, imagebuild.OCILayout, str]:
    """The command line (--runs, --work) of a big-image bench, its work dir and image."""
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", default="/var/tmp/tuidock-bench")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    layout, tag = build_big_image(work)
    return args, work, layout, tag
