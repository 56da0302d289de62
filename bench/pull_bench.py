"""Cold pull of one big image from one local registry: tuidock vs podman vs skopeo.

Every tool writes to the same filesystem (under --work, default /var/tmp) and
each run starts from an empty store. skopeo only copies blobs (no unpacking),
so it is the floor of what a pull can cost here. Also times GNU tar on the
layer blob, the floor for unpacking, and tuidock's unpacker alone on it.

The tools take turns (one run of each per round) so that load from other
work on the machine hits them alike. Every run writes into a new directory
and nothing is deleted until the end: on ext4, creating inodes right after
deleting many is several times slower (the allocator skips recently freed
inodes), which would measure the previous run's cleanup rather than a pull.

With TUIDOCK_BENCH_BASELINE=DIR (a source tree, e.g. from `git archive`),
the tuidock rows are also run with that tree's tuidock, for before/after.
TUIDOCK_BENCH_RECYCLE=1 deletes the previous run's output before each run
instead (how this bench measured until the writer threads came).

    .venv/bin/python bench/pull_bench.py [--runs 5] [--work /var/tmp/tuidock-bench]
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import big_image_bench_setup, print_results, run

from tuidock.demo.registry import LocalRegistry

PODMAN_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

# name -> a run of that tool writing into a new, empty directory
Tools = dict[str, Callable[[Path], None]]


def tuidock_tools(ref: str, blob: Path, label: str, pythonpath: str | None) -> Tools:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    unpack_only = str(Path(__file__).resolve().parent / "unpack_only.py")

    def pull(out: Path) -> None:
        env_run = dict(env, TUIDOCK_ROOT=str(out / "td"), TUIDOCK_CONFIG=str(out / "cfg"))
        run([sys.executable, "-m", "tuidock", "pull", "-q", ref], env_run)

    def unpack(out: Path) -> None:
        run([sys.executable, unpack_only, str(blob), str(out / "layer")], env)

    return {f"tuidock pull{label}": pull, f"tuidock unpack only{label}": unpack}


def other_tools(ref: str, blob: Path, work: Path) -> Tools:
    tools: Tools = {}
    if shutil.which("podman"):
        conf = work / "containers.conf"
        conf.write_text(PODMAN_CONF)
        penv = dict(os.environ, CONTAINERS_CONF=str(conf))

        def podman(out: Path) -> None:
            run(["podman", "--root", str(out / "p"), "--runroot", str(out / "pr"),
                 "--storage-driver", "overlay", "pull", "-q", "--tls-verify=false", ref],
                penv)  # fmt: skip

        tools["podman pull"] = podman
    if shutil.which("skopeo"):

        def skopeo(out: Path) -> None:
            run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}",
                 f"dir:{out / 's'}"])  # fmt: skip

        tools["skopeo copy (no unpack)"] = skopeo

    def tar(out: Path) -> None:
        run(["tar", "-xzf", str(blob), "-C", str(out)])

    tools["tar -xzf (unpack only)"] = tar
    return tools


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def take_turns(tools: Tools, runs: int, scratch: Path, recycle: bool) -> dict[str, float]:
    """Median wall time of each tool; prints every run and the median CPU time.

    CPU time (user + system of the tool's processes) moves less than the
    wall time when other work loads the machine.
    """
    times: dict[str, list[float]] = {name: [] for name in tools}
    cpu: dict[str, list[float]] = {name: [] for name in tools}
    for round_no in range(runs):
        for i, (name, fn) in enumerate(tools.items()):
            out = scratch / f"{round_no}-{i}"
            if recycle:
                # The old way: each run right after deleting the previous one.
                shutil.rmtree(scratch, ignore_errors=True)
                scratch.mkdir()
            out.mkdir()
            start, start_cpu = time.perf_counter(), _children_cpu()
            fn(out)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(_children_cpu() - start_cpu)
    for name, secs in times.items():
        print(f"  {name}: " + " ".join(f"{s:.2f}" for s in secs)
              + f"  (median CPU {statistics.median(cpu[name]):.2f} s)", file=sys.stderr)  # fmt: skip
    return {name: statistics.median(secs) for name, secs in times.items()}


def main() -> int:
    args, work, layout, tag = big_image_bench_setup(__doc__)
    manifest = layout.manifest(tag)
    blob = layout.blob_path(manifest["layers"][0]["digest"])
    print(f"image: one layer, {blob.stat().st_size / 1e6:.1f} MB gzip")
    baseline = os.environ.get("TUIDOCK_BENCH_BASELINE")
    with LocalRegistry(workdir=work / "registry") as reg:
        ref = f"{reg.host}/bench/big:latest"
        layout.push(tag, ref)
        tools = tuidock_tools(ref, blob, "", None)
        if baseline:
            tools.update(tuidock_tools(ref, blob, " (baseline)", baseline))
        tools.update(other_tools(ref, blob, work))
        scratch = Path(tempfile.mkdtemp(dir=work, prefix="run-"))
        try:
            results = take_turns(
                tools, args.runs, scratch, bool(os.environ.get("TUIDOCK_BENCH_RECYCLE"))
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    print_results(results, "tuidock pull")
    if "tuidock unpack only" in results:
        print("tuidock unpack only / tar -xzf = "
              f"{results['tuidock unpack only'] / results['tar -xzf (unpack only)']:.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
