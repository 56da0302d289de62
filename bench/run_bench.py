"""`run --rm --network none busybox true`: tuidock vs podman, runc and crun when installed.

Also `--network bridge`, whose difference to `none` is the cost of
the network setup and teardown.

Every tool runs the same busybox image from one local registry, with its
store under --work (default /var/tmp). Medians over --runs rounds, after two
warm-up runs; each round runs every tool once, so that the load of a shared
machine, which drifts, weighs on all of them alike. tuidock runs as users
run it: the `tuidock` console script of a regular `pip install .` into a
venv of Debian's /usr/bin/python3 (common.regular_install; an editable
install's import hook would add ~25 ms to every call). Also shown: the floor
of starting that Python at all, with and without site, and where one
`run` spends its time, step by step, from TUIDOCK_TRACE's marks of the CLI,
the monitor and the container's first process.

    .venv/bin/python bench/run_bench.py [--runs 20] [--work /var/tmp/tuidock-runbench]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import podman_setup, ratio, regular_install, run, timed

from tuidock.demo import imagebuild
from tuidock.demo.registry import LocalRegistry

GOAL = 0.3  # at most 0.3x podman's median


def _runtime_bundle(work: Path, runtime: str) -> Path | None:
    """An OCI bundle (busybox rootfs, `true`, no tty) for runc/crun run."""
    if not shutil.which(runtime):
        return None
    bundle = work / f"bundle-{runtime}"
    if not (bundle / "config.json").exists():
        shutil.rmtree(bundle, ignore_errors=True)
        bundle.mkdir(parents=True)
        shutil.copytree(
            imagebuild.busybox_rootfs(work / "busybox-rootfs"), bundle / "rootfs", symlinks=True
        )
        subprocess.run([runtime, "spec"], cwd=bundle, check=True)
        spec = json.loads((bundle / "config.json").read_text())
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["true"]
        spec["root"]["readonly"] = False
        (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def _free_subnet() -> str:
    import ipaddress

    from tuidock.runtime.network.hostroutes import first_free

    start = os.getpid() % 64
    pool = (ipaddress.IPv4Network(f"10.94.{(start + i) % 256}.0/24") for i in range(256))
    found = first_free(pool, [])
    if found is None:
        raise SystemExit("no free /24 in 10.94.0.0/16 for the bench bridge")
    return str(found)


def _nat_cost(runs: int) -> float | None:
    """Median ms of nat.bridge_up + bridge_down on a bridge of our own (None: no nft)."""
    from tuidock.runtime.network import links, nat

    if nat._nft() is None:
        return None
    name = f"tdbn{os.getpid():x}"
    with links.IPRoute() as ipr:
        ipr.link("add", ifname=name, kind="bridge")
        try:
            samples = []
            for _ in range(runs):
                t0 = time.perf_counter()
                nat.bridge_up(name, "198.51.100.0/24")  # TEST-NET-2: matches no real traffic
                nat.bridge_down(name)
                samples.append((time.perf_counter() - t0) * 1000)
        finally:
            ipr.link("del", ifname=name)
            nat.bridge_down(name)
    return statistics.median(samples)


def _steps(cmd: list[str], env: dict, trace: Path, runs: int) -> list[tuple[str, float]]:
    """Median ms from one step of `cmd` to the next, as TUIDOCK_TRACE marks them.

    The steps of the CLI, the monitor and the container's first process are
    ordered by time; "spawned" counts from the bench starting the CLI to its
    exit (interpreter start and imports are the first step).
    """
    deltas: dict[str, list[float]] = {}
    order: list[str] = []
    tenv = dict(env, TUIDOCK_TRACE=str(trace))
    for _ in range(runs):
        trace.unlink(missing_ok=True)
        t0 = time.time()
        run(cmd, tenv)
        t_end = time.time()
        marks = []
        for line in trace.read_text().splitlines():
            stamp, _pid, step = line.split(" ", 2)
            marks.append((float(stamp), step))
        marks.sort()
        marks.append((t_end, "returned to the shell"))
        prev = t0
        for stamp, step in marks:
            if step not in deltas:
                deltas[step] = []
                order.append(step)
            deltas[step].append((stamp - prev) * 1000)
            prev = stamp
    return [(step, statistics.median(deltas[step])) for step in order]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--work", default="/var/tmp/tuidock-runbench")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    layout, tag = imagebuild.build_busybox(work / "images")
    root = Path(tempfile.mkdtemp(dir=work, prefix="td-"))
    tenv = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    tenv.update(TUIDOCK_ROOT=str(root / "root"), TUIDOCK_CONFIG=str(root / "cfg"))
    # As users run it: the console script of a regular (non-editable) install.
    bindir = regular_install(work)
    py, td = str(bindir / "python"), str(bindir / "tuidock")
    os.chdir(work)  # not the source tree first on sys.path
    # name -> a callable doing one run; measured round-robin, so that a change
    # of load on this shared machine hits every tool alike.
    cases: dict[str, Callable[[], None]] = {}
    with LocalRegistry(workdir=work / "registry") as reg:
        ref = f"{reg.host}/bench/busybox:latest"
        layout.push(tag, ref)
        run([td, "pull", "-q", ref], tenv)
        cmd = [td, "run", "--rm", "--network", "none", ref, "true"]
        cases["tuidock run"] = lambda: run(cmd, tenv)
        # the default bridge (netns, veth, address, route; bridge made and
        # deleted each time as the only container leaves) vs --network none above.
        # A bridge and a free /24 of this run's own: two benches may run at once.
        subnet = _free_subnet()
        benv = dict(tenv, TUIDOCK_BRIDGE=f"tdbb{os.getpid():x}", TUIDOCK_BRIDGE_SUBNET=subnet)
        bcmd = [td, "run", "--rm", "--network", "bridge", ref, "true"]
        cases["tuidock run (bridge)"] = lambda: run(bcmd, benv)
        # The same with the bridge kept up by a second data root's container: no bridge
        # (nor its NAT rules, nat.py) made and removed per run. IPAM is per root: the
        # keeper takes an address the bench root would reach only after 247 runs.
        kenv = dict(benv, TUIDOCK_ROOT=str(root / "keeper"))
        run([td, "pull", "-q", ref], kenv)
        keeper = [
            td,
            "run",
            "-d",
            "--ip",
            subnet.replace(".0/24", ".250"),
            ref,
            "sleep",
            "3600",
        ]
        keeper_id = subprocess.run(keeper, env=kenv, check=True, capture_output=True, text=True)
        cases["tuidock run (bridge up)"] = lambda: run(bcmd, benv)
        cases["python -c pass (floor)"] = lambda: run([py, "-c", "pass"])
        cases["python -I -S -c pass"] = lambda: run([py, "-I", "-S", "-c", "pass"])
        podman = podman_setup(work, reg.host)
        if podman is not None:
            base, penv = podman
            run([*base, "pull", "-q", "--tls-verify=false", ref], penv)
            pcmd = [*base, "run", "--rm", "--network", "none", ref, "true"]
            cases["podman run"] = lambda: run(pcmd, penv)
            bpcmd = [*base, "run", "--rm", "--network", "bridge", ref, "true"]
            try:
                run(bpcmd, penv)
                cases["podman run (bridge)"] = lambda: run(bpcmd, penv)
            except subprocess.CalledProcessError as exc:
                why = exc.stderr.decode(errors="replace").strip()[:120]
                print(f"(podman --network bridge fails here: {why})")
        for runtime in ("runc", "crun"):
            bundle = _runtime_bundle(work, runtime)
            if bundle is None:
                continue

            def once(rt: str = runtime, b: Path = bundle, n: list[int] = [0]) -> None:  # noqa: B006
                n[0] += 1  # runc wants a new container name each time
                run([rt, "run", "--bundle", str(b), f"bench-{os.getpid()}-{n[0]}"])

            try:
                once()
            except subprocess.CalledProcessError as exc:
                why = exc.stderr.decode(errors="replace").strip()[:120]
                print(f"({runtime} run fails here: {why})")
                continue
            cases[f"{runtime} run"] = once
        try:
            for fn in cases.values():  # warm caches
                fn()
                fn()
            times: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(args.runs):
                for name, fn in cases.items():
                    times[name].append(timed(fn))
        finally:
            run([td, "rm", "-f", keeper_id.stdout.strip()], kenv)
        nat_ms = _nat_cost(args.runs)
        steps = _steps(cmd, tenv, work / "trace.txt", args.runs)
    results = {name: statistics.median(t) for name, t in times.items()}
    print(f"tuidock run --rm --network none, by step (TUIDOCK_TRACE, median of {args.runs}):")
    for step, ms in steps:
        print(f"  {ms:6.1f} ms  -> {step}")
    base = results["tuidock run"]
    net_cost = results["tuidock run (bridge)"] - base
    print(f"bridge network setup cost (bridge - none): {net_cost * 1000:.1f} ms")
    up_cost = results["tuidock run (bridge)"] - results["tuidock run (bridge up)"]
    print(f"bridge + NAT create/remove per run (bridge - bridge up): {up_cost * 1000:.1f} ms")
    if nat_ms is not None:
        print(f"NAT rules add + remove alone (nat.bridge_up/down): {nat_ms:.1f} ms")
    for name, secs in results.items():
        print(f"{name:28s} {secs * 1000:8.1f} ms   tuidock/{name.split()[0]} = {ratio(base, secs)}")
    if "podman run" in results:
        got = base / results["podman run"]
        verdict = "meets" if got <= GOAL else "misses"
        print(f"tuidock/podman = {got:.2f}x ({verdict} the {GOAL}x goal)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
