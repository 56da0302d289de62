"""`tuidock build`: an image from a Dockerfile, with docker's flags and classic output."""

from __future__ import annotations

import argparse
import os
import sys

from tuidock.errors import UsageError


def _add_build(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="Build an image from a Dockerfile")
    p.add_argument("context", metavar="PATH", help="The build context directory, or - (stdin)")
    p.add_argument("-t", "--tag", action="append", default=[], help="Name and optionally a tag")
    p.add_argument("-f", "--file", help="Name of the Dockerfile (default: 'PATH/Dockerfile')")
    p.add_argument("--build-arg", action="append", default=[], help="Set build-time variables")
    p.add_argument("--target", help="Set the target build stage to build")
    p.add_argument("--no-cache", action="store_true", help="Do not use cache when building")
    p.add_argument("--pull", action="store_true", help="Always attempt to pull a newer image")
    p.add_argument(
        "--network", default="default", help="Networking mode for RUN (default, bridge, none, host)"
    )
    p.add_argument("--label", action="append", default=[], help="Set metadata for an image")
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="Suppress the build output and print image ID on success",
    )
    p.add_argument("--iidfile", help="Write the image ID to the file")
    p.set_defaults(handler=cmd_build)


# The top-level commands of this module, by name (cli/main.py orders them).
COMMANDS = {"build": _add_build}


def _build_args(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise UsageError(
                f'invalid argument "{item}" for "--build-arg" flag: no name',
                "Use --build-arg NAME=VALUE.",
            )
        if not eq:
            # docker: a name without a value takes it from the environment, or is left unset.
            if key not in os.environ:
                continue
            value = os.environ[key]
        out[key] = value
    return out


def cmd_build(args: argparse.Namespace) -> int:
    import tempfile

    from tuidock.runtime.build.builder import Builder, BuildError, BuildOptions
    from tuidock.runtime.engine import default_engine

    labels = {}
    for item in args.label:
        k, _, v = item.partition("=")
        labels[k] = v
    dockerfile_text = None
    with tempfile.TemporaryDirectory(prefix="tuidock-build-") as empty:
        context = args.context
        if context == "-":
            # The Dockerfile on stdin, and no context, as `docker build -`.
            from tuidock.core.userfiles import read_user_text
            from tuidock.runtime.build.builder import DOCKERFILE_MAX

            dockerfile_text = read_user_text(
                sys.stdin.buffer, "Dockerfile", DOCKERFILE_MAX, shown="-"
            )
            context = empty
        if args.file == "-":
            from tuidock.core.userfiles import read_user_text
            from tuidock.runtime.build.builder import DOCKERFILE_MAX

            dockerfile_text = read_user_text(
                sys.stdin.buffer, "Dockerfile", DOCKERFILE_MAX, shown="-"
            )
        network = "bridge" if args.network == "default" else args.network
        opts = BuildOptions(
            context=context,
            dockerfile=args.file if args.file not in (None, "-") else None,
            dockerfile_text=dockerfile_text,
            tags=args.tag,
            build_args=_build_args(args.build_arg),
            target=args.target,
            no_cache=args.no_cache,
            pull=args.pull,
            network=network,
            labels=labels,
        )
        out = sys.stdout

        def emit(line: str) -> None:
            if not args.quiet:
                out.write(line + "\n")
                out.flush()

        def stream(data: bytes) -> None:
            if not args.quiet:
                out.flush()
                os.write(out.fileno(), data)

        engine = default_engine()
        try:
            image_id = Builder(engine.containers, opts, emit, stream).build()
        except BuildError as exc:
            from tuidock.errors import report

            report(exc)
            return exc.exit_code
    if args.iidfile:
        with open(args.iidfile, "w") as f:
            f.write(image_id)
    if args.quiet:
        print(image_id)
    return 0
