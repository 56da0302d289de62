"""The docker-style CLI on a Docker engine against the docker CLI on the same engine:
`ps`, `images` and `exec C true`, alternated in one run, medians.

A private dockerd is started as the tests start theirs (tests/rig/engines.py:
own data root, sockets and containerd namespaces, no iptables, no bridge);
busybox comes from a loopback registry. tuidock is a regular (non-editable)
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
from rig.engines import start_dockerd

NAME = "tuidock-remotebench"
COMMANDS = ("ps", "images", "exec")


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
        engine = start_dockerd(reg.host)
        try:
            host = engine.host
            docker = ["docker", "-H", host]
            run([*docker, "pull", "-q", ref], env)
            run([*docker, "run", "-d", "--network", "none", "--name", NAME, ref, "sleep", "600"])
            cases = {
                "tuidock ps": [td, "-H", host, "ps"],
                "docker ps": [*docker, "ps"],
                "tuidock images": [td, "-H", host, "images"],
                "docker images": [*docker, "images"],
                "tuidock exec": [td, "-H", host, "exec", NAME, "true"],
                "docker exec": [*docker, "exec", NAME, "true"],
            }
            unavailable = {}
            for name, cmd in list(cases.items()):
                done = subprocess.run(cmd, capture_output=True, env=env)
                if done.returncode:
                    unavailable[name] = done.stderr.decode(errors="replace").strip().splitlines()
                    del cases[name]
            times: dict[str, list[float]] = {name: [] for name in cases}
            names = list(cases)
            shuffle = random.Random(7).shuffle
            for i in range(args.runs + 2):
                shuffle(names)
                for name in names:
                    took = timed_run(cases[name], env)
                    if i >= 2:
                        times[name].append(took)
        finally:
            engine.stop()
    med = {name: statistics.median(t) * 1000 for name, t in times.items()}
    print(f"medians of {args.runs} rounds, ms (private dockerd, {host})")
    print(f"{'':10s}{'tuidock -H':>14s}{'docker -H':>14s}{'ratio':>10s}")
    for command in COMMANDS:
        mine, theirs = med.get(f"tuidock {command}"), med.get(f"docker {command}")
        if mine is None or theirs is None:
            why = unavailable.get(f"tuidock {command}") or unavailable.get(f"docker {command}")
            print(f"{command:10s}{'unavailable':>14s}   ({(why or ['?'])[0][:90]})")
            continue
        print(f"{command:10s}{mine:14.1f}{theirs:14.1f}{mine / theirs:9.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
