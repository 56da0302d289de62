"""The docker-style CLI on Docker and Podman against the docker CLI on the same engine:
`ps`, `ps -a --format json`, `images`, `images -q` and `exec C true`, alternated in
one run, medians.

A private dockerd and a private Podman service are started as the tests start
theirs (tests/rig/engines.py: own data roots and sockets, no iptables, no
bridge); busybox comes from a loopback registry. ps and images take the lean
reader on these unix:// hosts (backends/unixget.py), exec its POSTs and hijacked
stream (cli/remote/exec.py LeanExec). tuidock is a regular (non-editable)
install into a venv of Debian's /usr/bin/python3, run through its console
script (common.regular_install), with `-H unix://...`. A row whose tuidock
command this tree cannot run on a Docker endpoint yet is printed as
unavailable, not timed.

    .venv/bin/python bench/remote_bench.py [--runs 20] [--work /var/tmp/tdrb]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

from common import REPO, regular_install, run, timed_run

from tuidock.demo import imagebuild
from tuidock.demo.registry import LocalRegistry

sys.path.insert(0, str(REPO / "tests"))
from rig.engines import start_dockerd, start_podman

NAME = "tuidock-remotebench"
COMMANDS = {
    "ps": ["ps"],
    "ps -a json": ["ps", "-a", "--format", "json"],
    "images": ["images"],
    "images -q": ["images", "-q"],
    "exec": ["exec", NAME, "true"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--work", default="/var/tmp/tdrb")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    td = str(regular_install(work) / "tuidock")
    os.chdir(work)  # not the source tree first on sys.path
    layout, tag = imagebuild.build_busybox(work / "images")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with LocalRegistry(workdir=work / "registry") as reg:
        ref = f"{reg.host}/bench/busybox:latest"
        layout.push(tag, ref)
        for start in (start_dockerd, start_podman):
            engine = start(reg.host)
            try:
                _bench(engine, ref, td, env, args.runs)
            finally:
                engine.stop()
    return 0


def _bench(engine, ref: str, td: str, env: dict, runs: int) -> None:
    """The medians of each command on one engine, tuidock's and docker's alternated."""
    host = engine.host
    docker = ["docker", "-H", host]
    run([*docker, "pull", "-q", ref], env)
    run([*docker, "run", "-d", "--network", "none", "--name", NAME, ref, "sleep", "600"])
    cases = {}
    for command, words in COMMANDS.items():
        cases[f"tuidock {command}"] = [td, "-H", host, *words]
        cases[f"docker {command}"] = [*docker, *words]
    unavailable = {}
    for name, cmd in list(cases.items()):
        done = subprocess.run(cmd, capture_output=True, env=env)
        if done.returncode:
            unavailable[name] = done.stderr.decode(errors="replace").strip().splitlines()
            del cases[name]
    times: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    shuffle = random.Random(7).shuffle
    for i in range(runs + 2):
        shuffle(names)
        for name in names:
            took = timed_run(cases[name], env)
            if i >= 2:
                times[name].append(took)
    med = {name: statistics.median(t) * 1000 for name, t in times.items()}
    print(f"medians of {runs} rounds, ms (private {engine.name}, {host})")
    print(f"{'':12s}{'tuidock -H':>14s}{'docker -H':>14s}{'ratio':>10s}")
    for command in COMMANDS:
        mine, theirs = med.get(f"tuidock {command}"), med.get(f"docker {command}")
        if mine is None or theirs is None:
            why = unavailable.get(f"tuidock {command}") or unavailable.get(f"docker {command}")
            print(f"{command:12s}{'unavailable':>14s}   ({(why or ['?'])[0][:90]})")
            continue
        print(f"{command:12s}{mine:14.1f}{theirs:14.1f}{mine / theirs:9.2f}x")
    print(flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
