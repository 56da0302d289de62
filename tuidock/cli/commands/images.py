"""Image commands: pull, push, images, inspect, tag, rmi, image prune, login, logout."""

from __future__ import annotations

import argparse
import getpass
import sys

from tuidock.cli.output import print_formatted, print_inspect, print_table
from tuidock.core.humanize import human_size, since
from tuidock.errors import TuidockError, UsageError
from tuidock.runtime.engine import Engine, RemoveReport, default_engine, familiar_tag


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pull", help="Download an image from a registry")
    _pull_args(p)

    p = sub.add_parser("push", help="Upload an image to a registry")
    _push_args(p)

    p = sub.add_parser("images", help="List images")
    _images_args(p)

    p = sub.add_parser("rmi", help="Remove one or more images")
    _rmi_args(p)

    p = sub.add_parser("tag", help="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
    _tag_args(p)

    p = sub.add_parser("inspect", help="Return low-level information on objects")
    _inspect_args(p)

    p = sub.add_parser("login", help="Log in to a registry")
    p.add_argument("server", nargs="?")
    p.add_argument("-u", "--username")
    p.add_argument("-p", "--password")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(handler=cmd_login)

    p = sub.add_parser("logout", help="Log out from a registry")
    p.add_argument("server", nargs="?")
    p.set_defaults(handler=cmd_logout)

    image = sub.add_parser("image", help="Manage images")
    image.set_defaults(subparser=image)
    isub = image.add_subparsers(dest="image_command", metavar="COMMAND")
    _images_args(isub.add_parser("ls", aliases=["list"], help="List images"))
    _pull_args(isub.add_parser("pull", help="Download an image from a registry"))
    _push_args(isub.add_parser("push", help="Upload an image to a registry"))
    _inspect_args(isub.add_parser("inspect", help="Display detailed information on images"))
    _rmi_args(isub.add_parser("rm", aliases=["remove"], help="Remove images"))
    _tag_args(isub.add_parser("tag", help="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"))
    p = isub.add_parser("prune", help="Remove unused images")
    p.add_argument(
        "-a", "--all", action="store_true", help="Remove all images not used by containers"
    )
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    from tuidock.cli.commands.volumes import add_prune_filter_arg

    add_prune_filter_arg(p)
    p.set_defaults(handler=cmd_image_prune)
    p = isub.add_parser("mount", help="Mount an image's root filesystem read-only; print its path")
    p.add_argument("image")
    p.set_defaults(handler=cmd_image_mount)
    p = isub.add_parser("unmount", aliases=["umount"], help="Unmount an image's root filesystem")
    p.add_argument("image")
    p.set_defaults(handler=cmd_image_unmount)
    from tuidock.cli.commands.history import add_history_args

    add_history_args(isub.add_parser("history", help="Show the history of an image"))


def _pull_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("image")
    p.add_argument("-q", "--quiet", action="store_true", help="Print only the image ID")
    p.add_argument("--platform", help="os/arch[/variant] to pull, e.g. linux/arm64")
    p.set_defaults(handler=cmd_pull)


def _push_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="NAME[:TAG]")
    p.add_argument(
        "destination", nargs="?", help="Push to this NAME[:TAG] instead (as podman push)"
    )
    p.add_argument("-a", "--all-tags", action="store_true", help="Push all tags of the repository")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.add_argument(
        "--tls-verify",
        type=_boolean,
        metavar="BOOL",
        help="Require HTTPS with a verified certificate, or not (default: registries.toml)",
    )
    p.set_defaults(handler=cmd_push)


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def _images_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("repository", nargs="?", help="Only images of REPOSITORY[:TAG]")
    p.add_argument("-a", "--all", action="store_true", help="Show all images")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("--digests", action="store_true", help="Show digests")
    p.add_argument("--format", help="json, table TEMPLATE or a Go-style TEMPLATE")
    p.set_defaults(handler=cmd_images)


def _rmi_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.set_defaults(handler=cmd_rmi)


def _tag_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    p.set_defaults(handler=cmd_tag)


def _inspect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("-f", "--format", help="Format the output using a Go-style template")
    p.add_argument("--type", choices=["image", "container"], help="Only this kind of object")
    p.set_defaults(handler=cmd_inspect)


# -- commands ----------------------------------------------------------------


def cmd_pull(args: argparse.Namespace) -> int:
    from tuidock.cli.progress import LiveProgress, PlainProgress
    from tuidock.core import reference as refmod
    from tuidock.core.platforms import parse_platform

    engine = default_engine()
    platform = parse_platform(args.platform) if args.platform else None
    ref = refmod.parse(args.image)
    progress = None
    if not args.quiet:
        if ":" not in args.image.rsplit("/", 1)[-1] and "@" not in args.image:
            print("Using default tag: latest")
        progress = LiveProgress() if sys.stdout.isatty() else PlainProgress()
    try:
        result = engine.pull(args.image, platform, progress)
    finally:
        if progress is not None:
            progress.close()
    if args.quiet:
        print(result.image.id)
        return 0
    shown = ref.familiar()
    if result.downloaded:
        print(f"Status: Downloaded newer image for {shown}")
    else:
        print(f"Status: Image is up to date for {shown}")
    print(str(ref))
    return 0


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


def _image_rows(engine: Engine, args: argparse.Namespace) -> list[dict]:
    from tuidock.core import reference as refmod

    rows = []
    want = refmod.parse(args.repository, default_tag=False) if args.repository else None
    for rec in engine.list_images(args.repository):
        digests = {}
        for d in rec.repo_digests:
            repo, _, dg = d.partition("@")
            digests[repo] = dg
        tags = rec.repo_tags or ["<none>:<none>"]
        if not rec.repo_tags and rec.repo_digests:
            tags = [f"{d.split('@')[0]}:<none>" for d in rec.repo_digests]
        for tag in tags:
            repo_full, _, tag_name = tag.rpartition(":")
            if want and (repo_full != want.name or want.tag not in (None, tag_name)):
                continue  # as Docker: with NAME[:TAG], only the references that match
            repo = (
                familiar_tag(f"{repo_full}:x").rpartition(":")[0]
                if repo_full != "<none>"
                else "<none>"
            )
            full_id = rec.id
            rows.append(
                {
                    "Containers": "N/A",
                    "CreatedAt": rec.created,
                    "CreatedSince": since(rec.created),
                    "Digest": digests.get(repo_full, "<none>"),
                    "ID": full_id if args.no_trunc else rec.short_id,
                    "Repository": repo,
                    "SharedSize": "N/A",
                    "Size": human_size(rec.size),
                    "Tag": tag_name or "<none>",
                    "UniqueSize": "N/A",
                    "VirtualSize": human_size(rec.size),
                }
            )
    return rows


# The fields of an `images` row (`_image_rows`), which --format may name.
IMAGE_FIELDS = (
    "Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "SharedSize",
    "Size", "Tag", "UniqueSize", "VirtualSize",
)  # fmt: skip


def cmd_images(args: argparse.Namespace) -> int:
    engine = default_engine()
    rows = _image_rows(engine, args)
    if args.quiet:
        for row in rows:
            print(row["ID"])
        return 0
    if args.format:
        print_formatted(
            args.format,
            rows,
            headers={"ID": "IMAGE ID", "CreatedSince": "CREATED"},
            fields=IMAGE_FIELDS,
        )
        return 0
    headers = ["REPOSITORY", "TAG"]
    if args.digests:
        headers.append("DIGEST")
    headers += ["IMAGE ID", "CREATED", "SIZE"]
    table = []
    for row in rows:
        cells = [row["Repository"], row["Tag"]]
        if args.digests:
            cells.append(row["Digest"])
        cells += [row["ID"], row["CreatedSince"], row["Size"]]
        table.append(cells)
    print_table(headers, table)
    return 0


def _print_removal(report: RemoveReport) -> None:
    for tag in report.untagged:
        print(f"Untagged: {tag}")
    for image_id in report.deleted:
        print(f"Deleted: {image_id}")


def cmd_rmi(args: argparse.Namespace) -> int:
    report, errors = default_engine().remove_images(args.images, force=args.force)
    _print_removal(report)
    for err in errors:
        print(f"Error: {err}", file=sys.stderr)
    return 1 if errors else 0


def cmd_tag(args: argparse.Namespace) -> int:
    default_engine().tag(args.source, args.target)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    engine = default_engine()
    out: list[dict] = []
    errors: list[str] = []
    kind = getattr(args, "type", None)
    for name in args.names:
        # As the docker CLI: a container first, then an image (a name that is
        # both gives the container); --type picks one kind.
        lookups = []
        if kind in (None, "container"):
            lookups.append(engine.inspect_container)
        if kind in (None, "image"):
            lookups.append(engine.inspect_image)
        found = None
        error: TuidockError | None = None
        for lookup in lookups:
            try:
                found = lookup(name)
                break
            except TuidockError as exc:
                if error is None or "No such" in error.message:
                    error = exc
        if found is not None:
            out.append(found)
        elif error is not None:
            generic = kind is None and "No such" in error.message
            errors.append(f"No such object: {name}" if generic else error.message)
    return print_inspect(out, errors, args.format)


def cmd_image_prune(args: argparse.Namespace) -> int:
    from tuidock.core.prunefilter import parse_prune_filters

    filters = parse_prune_filters(args.filter)
    if not args.force:
        what = (
            "all images without at least one container associated to them"
            if args.all
            else "all dangling images"
        )
        if not sys.stdin.isatty():
            raise UsageError(
                f"this will remove {what}; confirmation needs a terminal",
                "Add -f to prune without a prompt.",
            )
        answer = input(
            f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    report = default_engine().prune_images(all_images=args.all, filters=filters)
    if report.untagged or report.deleted:
        print("Deleted Images:")
        for tag in report.untagged:
            print(f"untagged: {tag}")
        for image_id in report.deleted:
            print(f"deleted: {image_id}")
        print()
    print(f"Total reclaimed space: {human_size(report.reclaimed)}")
    return 0


def cmd_image_mount(args: argparse.Namespace) -> int:
    print(default_engine().mount_image(args.image))
    return 0


def cmd_image_unmount(args: argparse.Namespace) -> int:
    default_engine().unmount_image(args.image)
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
