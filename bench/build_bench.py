"""`build` of a 10-step Dockerfile: tuidock vs `podman build`, cold (--no-cache) and cached.

The same busybox image comes from one local registry; each tool keeps its
store under --work (default /var/tmp, the same filesystem for both). The
Dockerfile has two RUNs, two COPYs and six config-only steps, built with
`--network none`. Medians over --runs.

    .venv/bin/python bench/build_bench.py [--runs 5] [--work /var/tmp/tuidock-buildbench]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from common import run, timed
from run_bench import _podman

from tuidock.demo import imagebuild
from tuidock.demo.registry import LocalRegistry

DOCKERFILE = """\
FROM {ref}
ENV APP=/app
WORKDIR /app
COPY app.sh ./
COPY data/ ./data/
RUN chmod +x app.sh && echo built > stamp
ARG VERSION=1
LABEL version=$VERSION
RUN echo $VERSION > version
EXPOSE 8080
CMD ["./app.sh"]
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", default="/var/tmp/tuidock-buildbench")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    layout, tag = imagebuild.build_busybox(work / "images")
    root = Path(tempfile.mkdtemp(dir=work, prefix="td-"))
    tenv = dict(os.environ, TUIDOCK_ROOT=str(root / "root"), TUIDOCK_CONFIG=str(root / "cfg"))
    py = sys.executable
    results: dict[str, list[float]] = {}
    try:
        with LocalRegistry(workdir=work / "registry") as reg:
            ref = f"{reg.host}/bench/busybox:latest"
            layout.push(tag, ref)
            ctx = root / "ctx"
            (ctx / "data").mkdir(parents=True)
            (ctx / "Dockerfile").write_text(DOCKERFILE.format(ref=ref))
            (ctx / "app.sh").write_text("#!/bin/sh\necho hello\n")
            for i in range(20):
                (ctx / "data" / f"f{i}").write_text(str(i) * 100)
            run([py, "-m", "tuidock", "pull", "-q", ref], tenv)
            base = [py, "-m", "tuidock", "build", "-q", "--network", "none", str(ctx)]
            cases = {
                "tuidock build (cold)": lambda: run([*base[:4], "--no-cache", *base[4:]], tenv),
                "tuidock build (cached)": lambda: run(base, tenv),
            }
            podman = _podman(work, reg.host)
            if podman is not None:
                pbase, penv = podman
                pbase = [*pbase]
                pbase[pbase.index("--runroot") + 1] = tempfile.mkdtemp(prefix="pm-", dir="/tmp")
                run([*pbase, "pull", "-q", "--tls-verify=false", ref], penv)
                pcmd = [*pbase, "build", "-q", "--network", "none", str(ctx)]
                cases["podman build (cold)"] = lambda: run(
                    [*pcmd[:-1], "--no-cache", pcmd[-1]], penv
                )
                cases["podman build (cached)"] = lambda: run(pcmd, penv)
            for fn in cases.values():
                fn()  # warm-up; also fills the caches
            for _ in range(args.runs):
                for name, fn in cases.items():
                    results.setdefault(name, []).append(timed(fn))
            if podman is not None:
                run([*pbase, "system", "reset", "-f"], penv)
                shutil.rmtree(pbase[pbase.index("--runroot") + 1], ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for name, samples in results.items():
        print(f"{name:28} {statistics.median(samples) * 1000:8.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
