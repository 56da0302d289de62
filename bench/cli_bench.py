"""The hot CLI calls side by side: `--version`, `ps`, `run --rm --network none
busybox true` and `exec C true`, for tuidock (this tree), optionally tuidock
at an older commit (--before REV), and podman, alternated in one run.

Every tuidock is a regular (non-editable) `pip install` into a venv of
Debian's /usr/bin/python3, run through its `tuidock` console script, as the
README installs it (common.regular_install). Each round runs every command
of every tool once, in a shuffled order, so that the load of this shared
machine weighs on all of them alike; medians after two warm-up rounds.
podman runs with runc, cgroupfs and the file events logger (common.podman_setup).

    .venv/bin/python bench/cli_bench.py [--runs 20] [--before 9c71657] [--work /var/tmp/tdcb]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import tempfile
from pathlib import Path

from common import podman_setup, regular_install, run, timed_run

from tuidock.demo import imagebuild
from tuidock.demo.registry import LocalRegistry

NAME = "tuidock-clibench"


def _tuidock(label: str, bindir: Path, ref: str, work: Path) -> dict[str, tuple[list[str], dict]]:
    td = str(bindir / "tuidock")
    root = Path(tempfile.mkdtemp(dir=work, prefix="td-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(TUIDOCK_ROOT=str(root / "root"), TUIDOCK_CONFIG=str(root / "cfg"))
    run([td, "pull", "-q", ref], env)
    run([td, "run", "-d", "--name", NAME, ref, "sleep", "600"], env)
    return {
        f"{label} --version": ([td, "--version"], env),
        f"{label} ps": ([td, "ps"], env),
        f"{label} run": ([td, "run", "--rm", "--network", "none", ref, "true"], env),
        f"{label} exec": ([td, "exec", NAME, "true"], env),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--before", help="also a tuidock installed from this git commit")
    ap.add_argument("--work", default="/var/tmp/tdcb")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    installs = {"tuidock": regular_install(work)}
    if args.before:
        installs[f"tuidock@{args.before}"] = regular_install(work, args.before)
    os.chdir(work)  # not the source tree first on sys.path
    layout, tag = imagebuild.build_busybox(work / "images")
    cases: dict[str, tuple[list[str], dict]] = {}
    cleanup: list[tuple[list[str], dict]] = []
    with LocalRegistry(workdir=work / "registry") as reg:
        ref = f"{reg.host}/bench/busybox:latest"
        layout.push(tag, ref)
        try:
            for label, bindir in installs.items():
                cases.update(_tuidock(label, bindir, ref, work))
                env = cases[f"{label} ps"][1]
                cleanup.append(([str(bindir / "tuidock"), "rm", "-f", NAME], env))
            podman = podman_setup(work, reg.host)
            if podman is not None:
                base, penv = podman
                subprocess.run([*base, "rm", "-f", NAME], env=penv, capture_output=True)
                run([*base, "pull", "-q", "--tls-verify=false", ref], penv)
                run(
                    [*base, "run", "-d", "--network", "none", "--name", NAME, ref, "sleep", "600"],
                    penv,
                )
                cleanup.append(([*base, "rm", "-f", "-t", "0", NAME], penv))
                cases["podman --version"] = ([*base, "--version"], penv)
                cases["podman ps"] = ([*base, "ps"], penv)
                cases["podman run"] = (
                    [*base, "run", "--rm", "--network", "none", ref, "true"],
                    penv,
                )
                cases["podman exec"] = ([*base, "exec", NAME, "true"], penv)
            times: dict[str, list[float]] = {name: [] for name in cases}
            names = list(cases)
            shuffle = random.Random(7).shuffle
            for i in range(args.runs + 2):
                shuffle(names)
                for name in names:
                    cmd, env = cases[name]
                    took = timed_run(cmd, env)
                    if i >= 2:
                        times[name].append(took)
        finally:
            for cmd, env in cleanup:
                subprocess.run(cmd, env=env, capture_output=True, check=False)
    med = {name: statistics.median(t) * 1000 for name, t in times.items()}
    labels = [*installs, *(["podman"] if podman is not None else [])]
    print(f"medians of {args.runs} rounds, ms")
    print(f"{'':12s}" + "".join(f"{label:>22s}" for label in labels))
    for command in ("--version", "ps", "run", "exec"):
        row = "".join(f"{med[f'{label} {command}']:22.1f}" for label in labels)
        print(f"{command:12s}{row}")
    if podman is not None:
        for label in installs:
            ratios = ", ".join(
                f"{c} {med[f'{label} {c}'] / med[f'podman {c}']:.2f}x"
                for c in ("--version", "ps", "run", "exec")
            )
            print(f"{label}/podman: {ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
