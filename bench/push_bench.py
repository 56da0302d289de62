"""Push of one big image to an empty local registry: tuidock vs skopeo copy.

Every run pushes to a registry started empty for it (no blob can be skipped
or mounted). tuidock pushes the image it pulled (compressed blobs as
stored); skopeo copies the same image from its OCI layout, so both send the
same bytes and neither recompresses. Also times tuidock with small chunks
(TUIDOCK_PUSH_CHUNK) to show what chunked uploads cost.

    .venv/bin/python bench/push_bench.py [--runs 5] [--work /var/tmp/tuidock-bench]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from common import big_image_bench_setup, median_of, print_results, run

from tuidock.demo.registry import LocalRegistry


def main() -> int:
    args, work, layout, tag = big_image_bench_setup(__doc__)
    blob = layout.blob_path(layout.manifest(tag)["layers"][0]["digest"])
    print(f"image: one layer, {blob.stat().st_size / 1e6:.1f} MB gzip")
    scratch = Path(tempfile.mkdtemp(dir=work, prefix="push-"))
    env = dict(os.environ, TUIDOCK_ROOT=str(scratch / "td"), TUIDOCK_CONFIG=str(scratch / "cfg"))
    tuidock = [sys.executable, "-m", "tuidock"]
    target: list[LocalRegistry] = []
    results: dict[str, float] = {}

    def fresh_target() -> None:
        for reg in target:
            reg.stop()
        target.clear()
        shutil.rmtree(scratch / "target", ignore_errors=True)
        target.append(LocalRegistry(workdir=scratch / "target").start())

    def dest() -> str:
        return f"{target[0].host}/bench/pushed:latest"

    try:
        with LocalRegistry(workdir=work / "registry") as source:
            ref = f"{source.host}/bench/big:latest"
            layout.push(tag, ref)
            run([*tuidock, "pull", "-q", ref], env)

            def push(extra_env: dict[str, str] | None = None) -> None:
                run([*tuidock, "push", "-q", ref, dest()], {**env, **(extra_env or {})})

            results["tuidock push"] = median_of(args.runs, push, fresh_target)
            results["tuidock push (1 MiB chunks)"] = median_of(
                args.runs, lambda: push({"TUIDOCK_PUSH_CHUNK": "1m"}), fresh_target
            )
            if shutil.which("skopeo"):
                src = f"oci:{layout.path}:{tag}"

                def skopeo() -> None:
                    run(
                        [
                            "skopeo",
                            "copy",
                            "-q",
                            "--dest-tls-verify=false",
                            src,
                            f"docker://{dest()}",
                        ]
                    )

                results["skopeo copy"] = median_of(args.runs, skopeo, fresh_target)
    finally:
        for reg in target:
            reg.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print_results(results, "tuidock push", 30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
