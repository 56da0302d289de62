"""`build` on a Docker/Podman engine: the engine's own builder over DockerBackend.build.

The step output streams to stdout line by line as the engine sends it (Docker's
classic "Step 1/3 : FROM ...", Podman's buildah "STEP 1/3: FROM ..."); -q
prints only the image ID (sha256:...), as `docker build -q`. `-` as the
context or -f reads the Dockerfile from stdin; the SDK then sends a context
holding that file alone. A failed step is the engine's one-line error, exit 1.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING

from tuidock.errors import TuidockError

if TYPE_CHECKING:
    import argparse

    from tuidock.backends.docker import DockerBackend


def cmd_build(args: argparse.Namespace, backend: DockerBackend) -> int:
    import tempfile

    from tuidock.backends.base import BuildSpec
    from tuidock.cli.commands.build import _build_args
    from tuidock.runtime.container.options import parse_labels

    build_args = _build_args(args.build_arg)  # a bad one fails before the upload
    labels = parse_labels(args.label)
    with tempfile.TemporaryDirectory(prefix="tuidock-build-") as tmp:
        context, dockerfile = args.context, args.file
        if "-" in (context, dockerfile):
            from tuidock.core.userfiles import read_user_text
            from tuidock.runtime.build.builder import DOCKERFILE_MAX

            text = read_user_text(sys.stdin.buffer, "Dockerfile", DOCKERFILE_MAX, shown="-")
            # With a context directory, the SDK adds a Dockerfile from outside it to the upload.
            dockerfile = os.path.join(tmp, "Dockerfile")
            context = tmp if context == "-" else context
            with open(dockerfile, "w") as f:
                f.write(text)
        if not os.path.isdir(context):
            # The docker CLI's words; the SDK would fail with a TypeError.
            raise TuidockError(
                f'unable to prepare context: path "{context}" not found',
                "Give the build context directory (or - for a Dockerfile on stdin).",
            )
        spec = BuildSpec(
            context=context,
            dockerfile=dockerfile,
            tags=tuple(args.tag),
            build_args=build_args,
            target=args.target,
            no_cache=args.no_cache,
            pull=args.pull,
            labels=labels,
            network=None if args.network == "default" else args.network,
        )

        def show(line: str) -> None:
            if not args.quiet:
                print(line, flush=True)

        outcome = backend.build(spec, show, threading.Event())
    if args.iidfile:
        with open(args.iidfile, "w") as f:
            f.write(outcome.image_id)
    if args.quiet:
        print(outcome.image_id)
    return 0
