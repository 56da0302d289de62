"""Cold pull of one big image from one local registry: tuidock vs podman vs skopeo.

Every tool writes to the same filesystem (under --work, default /var/tmp) and
each run starts from an empty store. skopeo only copies blobs (no unpacking),
so it is the floor of what a pull can cost here. Also times GNU tar on the
layer blob, the floor for unpacking.

    .venv/bin/python bench/pull_bench.py [--runs 5] [--work /var/tmp/tuidock-bench]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from common import big_image_bench_setup, median_of, print_results, run

from tuidock.demo.registry import LocalRegistry

PODMAN_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def main() -> int:
    args, work, layout, tag = big_image_bench_setup(__doc__)
    manifest = layout.manifest(tag)
    blob = layout.blob_path(manifest["layers"][0]["digest"])
    print(f"image: one layer, {blob.stat().st_size / 1e6:.1f} MB gzip")
    results: dict[str, float] = {}
    with LocalRegistry(workdir=work / "registry") as reg:
        ref = f"{reg.host}/bench/big:latest"
        layout.push(tag, ref)
        scratch = Path(tempfile.mkdtemp(dir=work, prefix="run-"))

        def fresh() -> None:
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()

        env = dict(
            os.environ, TUIDOCK_ROOT=str(scratch / "td"), TUIDOCK_CONFIG=str(scratch / "cfg")
        )
        results["tuidock pull"] = median_of(
            args.runs, lambda: run([sys.executable, "-m", "tuidock", "pull", "-q", ref], env), fresh
        )
        if shutil.which("podman"):
            conf = work / "containers.conf"
            conf.write_text(PODMAN_CONF)
            penv = dict(os.environ, CONTAINERS_CONF=str(conf))
            results["podman pull"] = median_of(
                args.runs,
                lambda: run(
                    [
                        "podman",
                        "--root",
                        str(scratch / "p"),
                        "--runroot",
                        str(scratch / "pr"),
                        "--storage-driver",
                        "overlay",
                        "pull",
                        "-q",
                        "--tls-verify=false",
                        ref,
                    ],
                    penv,
                ),
                fresh,
            )
        if shutil.which("skopeo"):
            results["skopeo copy (no unpack)"] = median_of(
                args.runs,
                lambda: run(
                    [
                        "skopeo",
                        "copy",
                        "-q",
                        "--src-tls-verify=false",
                        f"docker://{ref}",
                        f"dir:{scratch / 's'}",
                    ]
                ),
                fresh,
            )
        results["tar -xzf (unpack only)"] = median_of(
            args.runs,
            lambda: run(["tar", "-xzf", str(blob), "-C", str(scratch)]),
            fresh,
        )
        shutil.rmtree(scratch, ignore_errors=True)
    print_results(results, "tuidock pull")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
