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

# A tree like a distribution's rootfs: many small files, some big ones.
DEFAULT_TREES = ("/usr/lib/python3", "/usr/share/perl", "/usr/share/doc")


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


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
