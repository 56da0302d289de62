"""UI idle cost on Docker and Podman: the app in a real terminal (tmux) on an endpoint
with N running containers.

Measures, per engine, and prints:
- idle CPU of the app over a period after a warm-up (goal <= 3% of a core
  with 50 running containers, as on the embedded engine: bench/ui_bench.py),
  from utime + stime in /proc/PID/stat;
- RSS at the end and its peak (VmHWM) (goal <= 150 MB);
- the app's thread count at the end of the idle period;
- the stats sampler of this tree alone, in this process, ticked every 2 s:
  its CPU (all threads) as % of a core, the wall time of a tick (how fresh
  the dashboard's figures can be), the threads it keeps, and how long after
  its first tick every container has figures;
- with --engine ssh (the private dockerd reached through tests/rig/sshd.py's
  loopback sshd, as ssh://root@127.0.0.1:PORT): the ssh processes the app
  and the sampler keep, and the `docker system dial-stdio` processes on the
  sshd side; the sampler also once with a stream for every container (the
  design before the ssh:// bound) for comparison.

The engines are private ones, started as the tests start theirs
(tests/rig/engines.py: own data root and sockets, no iptables); busybox comes
from a loopback registry and the containers run `sleep` with no network. The
app is a regular (non-editable) install of this tree on Debian's
/usr/bin/python3 (`common.regular_install`), started as
`python -m tuidock -H unix://...`. Engines, containers and the tmux session
made here are removed at the end.

The machine may be busy: --rounds starts the app several times and reports
medians; --baseline REF alternates each round with a regular install of the
git commit REF (e.g. main), so that a change is compared under the same load.

    .venv/bin/python bench/ui_engine_bench.py [--engine docker --engine podman] [-n 50]
        [--idle 30] [--rounds 1] [--baseline REF]
    .venv/bin/python bench/ui_engine_bench.py --engine ssh --baseline main
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import REPO, regular_install
from ui_bench import app_pid, capture, cpu_ticks, rss_mb

from tuidock.demo import imagebuild
from tuidock.demo.registry import LocalRegistry

sys.path.insert(0, str(REPO / "tests"))
from rig.engines import EngineProc, start_dockerd, start_podman
from rig.sshd import SSHD, start_sshd

STARTERS = {"docker": start_dockerd, "podman": start_podman, "ssh": start_dockerd}


def ssh_children(pid: int) -> int:
    """Live ssh processes whose parent is `pid` (each an ssh:// connection)."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if stat[stat.index("(") + 1 : stat.rindex(")")] == "ssh" and int(fields[1]) == pid:
            count += 1
    return count


def dial_stdios(sshd: SSHD | None) -> int:
    """`docker system dial-stdio` processes serving the bench sshd's sessions."""
    if sshd is None:
        return 0
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        for var in env.split(b"\0"):
            # SSH_CONNECTION="client port server port": a session of this sshd.
            if b"dial-stdio" in argv and var.startswith(b"SSH_CONNECTION="):
                count += var.split()[-1] == str(sshd.port).encode()
    return count


def status_field(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return ""


def start_containers(host: str, ref: str, n: int) -> list[str]:
    """N running `sleep` containers from `ref` (pulled first), made 8 at a time."""
    import docker

    api = docker.APIClient(base_url=host, version="auto", timeout=120)
    api.pull(ref)

    def one(i: int) -> str:
        c = api.create_container(
            ref,
            ["sleep", "86400"],
            name=f"uibench{i:02d}-{uuid.uuid4().hex[:6]}",
            host_config=api.create_host_config(network_mode="none"),
        )
        api.start(c["Id"])
        return c["Id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(one, range(n)))
    api.close()
    return ids


def measure_app(
    host: str, n: int, idle: float, python: Path, cfg: str, sshd: SSHD | None = None
) -> dict[str, float]:
    """One start of the app on `host`: idle CPU (% of a core), RSS and peak (MB), threads,
    ssh processes (its own children, and dial-stdio on the sshd side)."""
    session = f"tuidock-ebench-{uuid.uuid4().hex[:8]}"
    cwd = tempfile.mkdtemp(prefix="td-ebench-")  # no tuidock/ here to shadow the install
    envs = [f"TUIDOCK_CONFIG={cfg}", f"TUIDOCK_ROOT={cwd}/root", f"PATH={os.environ['PATH']}"]
    cmd = [*envs, str(python), "-m", "tuidock", "-H", host]
    start = time.perf_counter()
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-c", cwd, "-x", "200", "-y", "60",
         "env", *cmd],
        check=True,
    )  # fmt: skip
    results: dict[str, float] = {}
    try:
        want = f"2 Containers ({n} running / {n})"
        while want not in (screen := capture(session)):
            if time.perf_counter() - start > 90:
                raise RuntimeError("no full paint within 90 s:\n" + screen)
            time.sleep(0.05)
        results["paint"] = time.perf_counter() - start
        pid = app_pid(session)
        time.sleep(5)  # the first ticks (CPU% needs two samples) and the image list
        t0, c0 = time.perf_counter(), cpu_ticks(pid)
        time.sleep(idle)
        t1, c1 = time.perf_counter(), cpu_ticks(pid)
        results["cpu"] = (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0) * 100
        results["rss"] = rss_mb(pid)
        results["hwm"] = int(status_field(pid, "VmHWM").split()[0]) / 1024
        results["threads"] = int(status_field(pid, "Threads"))
        results["ssh"] = ssh_children(pid)
        results["dial"] = dial_stdios(sshd)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        time.sleep(1)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)
    return results


def measure_sampler(
    host: str, ids: list[str], ticks: int = 10, sshd: SSHD | None = None, streams: int = 0
) -> dict[str, float]:
    """The backend's stats sampler in this process, ticked every 2 s as the dashboard does:
    wall time of a tick (how fresh the figures are), CPU of the whole process (the
    stream threads' reads between ticks included) as % of a core, threads kept, ssh
    processes (here and dial-stdio there); `streams`: the ssh:// stream bound instead of
    SSH_STREAMS."""
    from tuidock.backends import docker as dockerbackend
    from tuidock.backends.docker import DockerBackend
    from tuidock.backends.endpoint import Endpoint

    bound = dockerbackend.SSH_STREAMS
    if streams:
        dockerbackend.SSH_STREAMS = streams  # read when the sampler is made

    def cpu_s() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    backend = DockerBackend(Endpoint("bench", host))
    backend.facts()  # the backend's own connection, before the sampler's are counted
    before = threading.active_count()
    ssh_before = ssh_children(os.getpid())
    sampler = backend.stats_sampler()
    try:
        # Warm: the connections, the engine's kind, the first counters; how long
        # until every container has figures (the polled ones come in turn).
        t_first = time.perf_counter()
        while len(sampler.sample(ids)) < len(ids) and time.perf_counter() - t_first < 60:
            time.sleep(0.1)
        first = time.perf_counter() - t_first
        dockerbackend.SSH_STREAMS = bound
        time.sleep(2)
        wall = 0.0
        got = 0
        c0, t0 = cpu_s(), time.perf_counter()
        for _ in range(ticks):
            w0 = time.perf_counter()
            got = len(sampler.sample(ids))
            wall += time.perf_counter() - w0
            time.sleep(2)
        cpu = (cpu_s() - c0) / (time.perf_counter() - t0) * 100
        threads = threading.active_count() - before
        ssh = ssh_children(os.getpid()) - ssh_before
        dial = dial_stdios(sshd)
    finally:
        dockerbackend.SSH_STREAMS = bound
        sampler.close()
        backend.close()
    return {"cpu": cpu, "wall": wall / ticks, "threads": threads, "got": got, "ssh": ssh,
            "dial": dial, "first": first}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--engine", action="append", choices=sorted(STARTERS))
    ap.add_argument("-n", type=int, default=50, help="running containers")
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measurement")
    ap.add_argument("--rounds", type=int, default=1, help="app starts measured (medians)")
    ap.add_argument("--baseline", help="a git commit to alternate with (a regular install of it)")
    ap.add_argument("--work", default="/var/tmp/tuidock-uiengbench")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    sources = {"": regular_install(work) / "python"}
    if args.baseline:
        sources = {f"{args.baseline} ": regular_install(work, args.baseline) / "python", **sources}
    cfg = tempfile.mkdtemp(prefix="td-ebench-cfg-")
    layout, tag = imagebuild.build_busybox(work / "images")
    results: dict[str, str] = {}
    with LocalRegistry(workdir=work / "registry") as reg:
        ref = f"{reg.host}/bench/busybox:latest"
        layout.push(tag, ref)
        for name in args.engine or ["docker", "podman"]:
            engine: EngineProc = STARTERS[name](reg.host)
            sshd: SSHD | None = None
            try:
                host = engine.host
                if name == "ssh":
                    sshd = start_sshd(engine.host)
                    os.environ.update(sshd.client_env(known=True))  # its ssh wrapper first
                    host = sshd.host()
                t = time.perf_counter()
                ids = start_containers(engine.host, ref, args.n)
                print(f"{name}: {args.n} containers in {time.perf_counter() - t:.1f} s", flush=True)
                variants = {"": 0}
                if sshd is not None:
                    variants["a stream each (before), "] = args.n
                for variant, streams in variants.items():
                    s = measure_sampler(host, ids, sshd=sshd, streams=streams)
                    key = f"{name}: sampler alone, {variant}"
                    results[f"{key}CPU ({s['got']:.0f} samples a tick)"] = (
                        f"{s['cpu']:.2f}% of a core"
                    )
                    results[f"{key}wall per tick"] = f"{s['wall'] * 1000:.0f} ms"
                    results[f"{key}threads kept"] = f"{s['threads']:.0f}"
                    results[f"{key}every container's figures after"] = f"{s['first']:.1f} s"
                    if sshd is not None:
                        results[f"{key}ssh here / dial-stdio there"] = (
                            f"{s['ssh']:.0f} / {s['dial']:.0f}"
                        )
                runs: dict[str, list[dict[str, float]]] = {label: [] for label in sources}
                for i in range(args.rounds):
                    for label, python in sources.items():
                        r = measure_app(host, args.n, args.idle, python, cfg, sshd)
                        runs[label].append(r)
                        print(f"{name} round {i + 1} {label or 'this tree '}{r}", flush=True)
                of = f" (median of {args.rounds})" if args.rounds > 1 else ""
                for label, rs in runs.items():
                    med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                    key = f"{name}: {label}"
                    results[f"{key}idle CPU over {args.idle:.0f} s{of}"] = (
                        f"{med['cpu']:.2f}% of a core"
                    )
                    results[f"{key}RSS / peak{of}"] = f"{med['rss']:.0f} / {med['hwm']:.0f} MB"
                    results[f"{key}threads{of}"] = f"{med['threads']:.0f}"
                    results[f"{key}first full paint{of}"] = f"{med['paint']:.2f} s"
                    if sshd is not None:
                        results[f"{key}ssh here / dial-stdio there{of}"] = (
                            f"{med['ssh']:.0f} / {med['dial']:.0f}"
                        )
            finally:
                if sshd is not None:
                    sshd.stop()
                engine.stop()
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
