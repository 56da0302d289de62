"""What each hot CLI command imports: `python -X importtime` totals per command.

Every CLI call pays for the modules it loads before it does any work, so
this prints, per command, the cumulative microseconds of all imports, of the
top-level `tuidock` import tree (every `tuidock.*` import made at the top
level of the import stack, lazy ones inside functions included), the
number of modules, and the 10 modules with the most time of their own.

It runs what users run: the `tuidock` console script of a regular
(non-editable) `pip install .` into a venv of Debian's /usr/bin/python3
(bench/common.py's regular_install), with bytecode already compiled, against
a busybox image from a local registry. Medians over --runs runs per command.

    .venv/bin/python bench/import_bench.py [--runs 5] [--work /var/tmp/tuidock-importbench]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from common import regular_install, run

from tuidock.demo import imagebuild
from tuidock.demo.registry import LocalRegistry

NAME = "tuidock-importbench"


def importtime(cmd: list[str], env: dict) -> list[tuple[int, str, int, int]]:
    """(depth, module, self µs, cumulative µs) of one run of `cmd` under -X importtime."""
    proc = subprocess.run(
        [cmd[0], "-X", "importtime", *cmd[1:]],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        own, cum, name = line.removeprefix("import time:").split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((depth, name.strip(), int(own), int(cum)))
    return rows


def summarize(runs: list[list[tuple[int, str, int, int]]]) -> dict:
    totals, tree, counts = [], [], []
    own: dict[str, list[int]] = defaultdict(list)
    cum: dict[str, list[int]] = defaultdict(list)
    for rows in runs:
        totals.append(sum(c for d, _, _, c in rows if d == 0))
        tree.append(sum(c for d, n, _, c in rows if d == 0 and n.startswith("tuidock")))
        counts.append(len(rows))
        for _, name, o, c in rows:
            own[name].append(o)
            cum[name].append(c)
    top = sorted(own, key=lambda n: statistics.median(own[n]), reverse=True)[:10]
    return {
        "total": statistics.median(totals),
        "tuidock": statistics.median(tree),
        "modules": statistics.median(counts),
        "top": [(n, statistics.median(own[n]), statistics.median(cum[n])) for n in top],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", default="/var/tmp/tuidock-importbench")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    bindir = regular_install(work)
    py, script = str(bindir / "python"), str(bindir / "tuidock")
    root = Path(tempfile.mkdtemp(dir=work, prefix="td-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(TUIDOCK_ROOT=str(root / "root"), TUIDOCK_CONFIG=str(root / "cfg"))
    # `python -m`/a script's directory comes first on sys.path: run from the work
    # dir, so that the installed package is imported, not this source tree.
    os.chdir(work)
    layout, tag = imagebuild.build_busybox(work / "images")
    td = [py, script]
    try:
        with LocalRegistry(workdir=work / "registry") as reg:
            ref = f"{reg.host}/bench/busybox:latest"
            layout.push(tag, ref)
            run([*td, "pull", "-q", ref], env)
            run([*td, "run", "-d", "--name", NAME, ref, "sleep", "300"], env)
            cases = {
                "--version": ["--version"],
                "ps": ["ps"],
                "images": ["images"],
                "run --rm": ["run", "--rm", "--network", "none", ref, "true"],
                "exec": ["exec", NAME, "true"],
                "stop": ["stop", "-t", "0", NAME],
                "start": ["start", NAME],
                "rm -f": ["rm", "-f", NAME],
            }
            # what puts the container back for the next run of the same command
            undo = {
                "stop": ["start", NAME],
                "start": ["stop", "-t", "0", NAME],
                "rm -f": ["run", "-d", "--name", NAME, ref, "sleep", "300"],
            }
            results = {}
            for label, argv in cases.items():
                samples = []
                for i in range(args.runs):
                    samples.append(importtime([*td, *argv], env))
                    if label in undo and i + 1 < args.runs:
                        run([*td, *undo[label]], env)
                results[label] = summarize(samples)
    finally:
        subprocess.run([*td, "rm", "-f", NAME], env=env, capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
    for label, r in results.items():
        print(
            f"tuidock {label:10s} imports {r['total'] / 1000:6.1f} ms, "
            f"tuidock tree {r['tuidock'] / 1000:6.1f} ms, {r['modules']:.0f} modules"
        )
        for name, own, cum in r["top"]:
            print(f"    {own:7.0f} µs own {cum:8.0f} µs cumulative  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
