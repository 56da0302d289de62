"""What talks to a registry: pull, push, login and logout."""

from __future__ import annotations

import argparse
import getpass
import sys

from tuidock.errors import UsageError
from tuidock.runtime.engine import default_engine


def cmd_pull(args: argparse.Namespace) -> int:
    from tuidock.cli.progress import LiveProgress, PlainProgress
    from tuidock.core import reference as refmod
    from tuidock.core.platforms import parse_platform

    engine = default_engine()
    platform = parse_platform(args.platform) if args.platform else None
    ref = refmod.parse(args.image)
    progress = None
    if not args.quiet:
        announce_default_tag(args.image)
        progress = LiveProgress() if sys.stdout.isatty() else PlainProgress()
    try:
        result = engine.pull(args.image, platform, progress)
    finally:
        if progress is not None:
            progress.close()
    if args.quiet:
        print(result.image.id)
        return 0
    print_pull_end(ref, result.downloaded)
    return 0


def print_pull_end(ref, downloaded: bool) -> None:
    """docker pull's last lines: the status (the familiar name), then the full reference."""
    shown = ref.familiar()
    if downloaded:
        print(f"Status: Downloaded newer image for {shown}")
    else:
        print(f"Status: Image is up to date for {shown}")
    print(str(ref))


def announce_default_tag(image: str) -> None:
    if ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
        print("Using default tag: latest")


def cmd_push(args: argparse.Namespace) -> int:
    from tuidock.cli.pushprogress import LivePushProgress, PlainPushProgress
    from tuidock.core import reference as refmod

    engine = default_engine()
    progress = None
    announced: set[str] = set()

    def start(ref: refmod.Reference) -> None:
        nonlocal progress
        if args.quiet:
            return
        if progress is not None:
            progress.close()
        if ref.name not in announced:
            announced.add(ref.name)
            print(f"The push refers to repository [{ref.name}]", flush=True)
        progress = LivePushProgress() if sys.stdout.isatty() else PlainPushProgress()

    def emit(ev) -> None:
        if progress is not None:
            progress(ev)

    try:
        results = engine.push(
            args.image,
            args.destination,
            all_tags=args.all_tags,
            progress=emit,
            tls_verify=args.tls_verify,
            on_start=start,
        )
    finally:
        if progress is not None:
            progress.close()
    if args.quiet:
        for result in results:
            print(str(result.reference))
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import normalize_server

    user = args.username
    password = args.password
    if args.password_stdin:
        if args.password:
            raise UsageError("--password and --password-stdin are mutually exclusive")
        from tuidock.core.userfiles import LINE_MAX, read_user_text

        password = read_user_text(
            sys.stdin.buffer, "--password-stdin input", LINE_MAX, shown="stdin"
        ).rstrip("\n")
    if not user:
        if not sys.stdin.isatty():
            raise UsageError("login needs a user name", "Pass -u USER (and --password-stdin).")
        user = input("Username: ").strip()
    if password is None:
        if not sys.stdin.isatty():
            raise UsageError(
                "login needs a password", "Pass --password-stdin and the password on stdin."
            )
        password = getpass.getpass("Password: ")
    if args.password and not args.password_stdin:
        print(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
            file=sys.stderr,
        )
    default_engine().login(args.server or "", user, password)
    print(f"Login Succeeded ({normalize_server(args.server)})")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import normalize_server

    server = normalize_server(args.server)
    if default_engine().logout(args.server or ""):
        print(f"Removing login credentials for {server}")
    else:
        print(f"Not logged in to {server}")
    return 0
