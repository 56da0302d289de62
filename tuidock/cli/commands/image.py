"""Image commands: the `image` group and its verbs at the top level.

images, rmi, tag, inspect, history, import, save and load are here; pull,
push, login and logout (what talks to a registry) in image_registry. Every
parser is built only when its command is used; the engine comes in inside
the commands.
"""

from __future__ import annotations

import argparse
import sys

from tuidock.cli.lazy import lazy_command
from tuidock.errors import TuidockError, UsageError

TYPE_CHECKING = False  # typing itself costs ~2 ms of a CLI start
if TYPE_CHECKING:
    from collections.abc import Callable

    from tuidock.runtime.engine import Engine, RemoveReport

CREATED_BY_WIDTH = 45  # Docker's truncation of history's CREATED BY column


def _login_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("server", nargs="?")
    p.add_argument("-u", "--username")
    p.add_argument("-p", "--password")
    p.add_argument("--password-stdin", action="store_true")
    from tuidock.cli.commands.image_registry import cmd_login

    p.set_defaults(handler=cmd_login)


def _logout_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("server", nargs="?")
    from tuidock.cli.commands.image_registry import cmd_logout

    p.set_defaults(handler=cmd_logout)


def _image_group(image: argparse.ArgumentParser) -> None:
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
    from tuidock.cli.prune import add_prune_filter_arg

    add_prune_filter_arg(p)
    p.set_defaults(handler=cmd_image_prune)
    p = isub.add_parser("mount", help="Mount an image's root filesystem read-only; print its path")
    p.add_argument("image")
    p.set_defaults(handler=cmd_image_mount)
    p = isub.add_parser("unmount", aliases=["umount"], help="Unmount an image's root filesystem")
    p.add_argument("image")
    p.set_defaults(handler=cmd_image_unmount)
    _history_args(isub.add_parser("history", help="Show the history of an image"))


def _import_args(p: argparse.ArgumentParser) -> None:
    from tuidock.cli.commands.container import add_change_arg

    p.add_argument("-m", "--message", default="", help="Set commit message for imported image")
    add_change_arg(p)
    p.add_argument("file", metavar="file|-")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    p.set_defaults(handler=cmd_import)


def _save_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(handler=cmd_save)


def _load_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")
    p.set_defaults(handler=cmd_load)


def _pull_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("image")
    p.add_argument("-q", "--quiet", action="store_true", help="Print only the image ID")
    p.add_argument("--platform", help="os/arch[/variant] to pull, e.g. linux/arm64")
    from tuidock.cli.commands.image_registry import cmd_pull

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
    from tuidock.cli.commands.image_registry import cmd_push

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


def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument(
        "-H",
        "--human",
        default="true",
        choices=["true", "false"],
        help="Print sizes and dates in human readable format (default true)",
    )
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--format", help="Format output using a custom template (json, table, ...)")
    p.set_defaults(handler=cmd_history)


# The top-level commands of this module, by name (cli/main.py orders them).
COMMANDS = {
    "pull": lazy_command("Download an image from a registry", _pull_args),
    "push": lazy_command("Upload an image to a registry", _push_args),
    "images": lazy_command("List images", _images_args),
    "rmi": lazy_command("Remove one or more images", _rmi_args),
    "tag": lazy_command("Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", _tag_args),
    "inspect": lazy_command("Return low-level information on objects", _inspect_args),
    "login": lazy_command("Log in to a registry", _login_args),
    "logout": lazy_command("Log out from a registry", _logout_args),
    "image": lazy_command("Manage images", _image_group),
    "import": lazy_command(
        "Import the contents from a tarball to create a filesystem image", _import_args
    ),
    "save": lazy_command(
        "Save one or more images to a tar archive (streamed to STDOUT by default)", _save_args
    ),
    "load": lazy_command("Load an image from a tar archive or STDIN", _load_args),
    "history": lazy_command("Show the history of an image", _history_args),
}


# -- commands ----------------------------------------------------------------


def _image_rows(engine: Engine, args: argparse.Namespace) -> list[dict]:
    from tuidock.core import reference as refmod
    from tuidock.core.humanize import human_size, since
    from tuidock.runtime.engine import familiar_tag

    rows = []
    want = refmod.parse(args.repository, default_tag=False) if args.repository else None
    for rec in engine.list_images(args.repository, all_images=args.all):
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
    from tuidock.runtime.engine import default_engine

    print_images(_image_rows(default_engine(), args), args)
    return 0


def print_images(rows: list[dict], args: argparse.Namespace) -> None:
    """`images`' output from its rows (`_image_rows`' fields), by -q, --format or the table."""
    from tuidock.cli.output import print_formatted, print_table

    if args.quiet:
        for row in rows:
            print(row["ID"])
        return
    if args.format:
        print_formatted(
            args.format,
            rows,
            headers={"ID": "IMAGE ID", "CreatedSince": "CREATED"},
            fields=IMAGE_FIELDS,
        )
        return
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


def _print_removal(report: RemoveReport) -> None:
    for tag in report.untagged:
        print(f"Untagged: {tag}")
    for image_id in report.deleted:
        print(f"Deleted: {image_id}")


def cmd_rmi(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    report, errors = default_engine().remove_images(args.images, force=args.force)
    _print_removal(report)
    for err in errors:
        print(f"Error: {err}", file=sys.stderr)
    return 1 if errors else 0


def cmd_tag(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    default_engine().tag(args.source, args.target)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from tuidock.cli.output import print_inspect
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    out, errors = inspect_objects(
        args.names, getattr(args, "type", None), engine.inspect_container, engine.inspect_image
    )
    return print_inspect(out, errors, args.format)


def inspect_objects(
    names: list[str], kind: str | None, container: Callable, image: Callable
) -> tuple[list[dict], list[str]]:
    """The generic `inspect`: (objects found, error lines) for `names`.

    As the docker CLI: a container first, then an image (a name that is both
    gives the container); `kind` ("container", "image") picks one."""
    out: list[dict] = []
    errors: list[str] = []
    for name in names:
        lookups = []
        if kind in (None, "container"):
            lookups.append(container)
        if kind in (None, "image"):
            lookups.append(image)
        found = None
        error: TuidockError | None = None
        for lookup in lookups:
            try:
                found = lookup(name)
                break
            except TuidockError as exc:
                if error is None or _missing(error):
                    error = exc
        if found is not None:
            out.append(found)
        elif error is not None:
            generic = kind is None and _missing(error)
            errors.append(f"No such object: {name}" if generic else error.message)
    return out, errors


def _missing(error: TuidockError) -> bool:
    # Podman's words for a missing container lack Docker's "No such": its class tells.
    from tuidock.errors import NotFound

    return isinstance(error, NotFound) or "No such" in error.message


def cmd_image_prune(args: argparse.Namespace) -> int:
    from tuidock.cli.prune import confirm
    from tuidock.core.humanize import human_size
    from tuidock.core.prunefilter import parse_prune_filters
    from tuidock.runtime.engine import default_engine

    filters = parse_prune_filters(args.filter)
    what = (
        "all images without at least one container associated to them"
        if args.all
        else "all dangling images"
    )
    if not confirm(what, args.force):
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
    from tuidock.runtime.engine import default_engine

    print(default_engine().mount_image(args.image))
    return 0


def cmd_image_unmount(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    default_engine().unmount_image(args.image)
    return 0


# -- history ----------------------------------------------------------------


def _short(image_id: str, no_trunc: bool) -> str:
    if image_id.startswith("sha256:"):
        return image_id if no_trunc else image_id.removeprefix("sha256:")[:12]
    return image_id


def cmd_history(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.image.history import image_history

    print_history(image_history(default_engine(), args.image), args)
    return 0


def print_history(rows: list, args: argparse.Namespace) -> None:
    """`history`'s output from rows with id, created (RFC 3339), created_by, size, comment."""
    from tuidock.cli.output import print_formatted, print_table
    from tuidock.core.humanize import human_size, since

    human = args.human == "true"
    if args.quiet:
        for row in rows:
            print(_short(row.id, args.no_trunc))
        return
    objs = []
    for row in rows:
        created_by = row.created_by.replace("\t", " ")  # as Docker: one line per layer
        if not args.no_trunc and len(created_by) > CREATED_BY_WIDTH:
            created_by = created_by[: CREATED_BY_WIDTH - 1] + "…"
        objs.append(
            {
                "ID": _short(row.id, args.no_trunc),
                "CreatedAt": row.created,
                "CreatedSince": (since(row.created) if row.created else "N/A")
                if human
                else row.created,
                "CreatedBy": created_by,
                "Size": human_size(row.size) if human else str(row.size),
                "Comment": row.comment,
            }
        )
    if args.format:
        print_formatted(args.format, objs, headers={"ID": "IMAGE", "CreatedSince": "CREATED"})
        return
    print_table(
        ["IMAGE", "CREATED" if human else "CREATED AT", "CREATED BY", "SIZE", "COMMENT"],
        [[o["ID"], o["CreatedSince"], o["CreatedBy"], o["Size"], o["Comment"]] for o in objs],
    )


# -- import, save, load ------------------------------------------------------


def cmd_import(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.image import tarimport
    from tuidock.runtime.image.urlsource import is_url, open_url

    engine = default_engine()
    if args.file == "-":
        image_id = tarimport.import_tar(
            engine, sys.stdin.buffer, args.reference, args.message, args.change
        )
    elif is_url(args.file):
        with open_url(args.file) as src:
            image_id = tarimport.import_tar(engine, src, args.reference, args.message, args.change)
    else:
        with open(args.file, "rb") as src:
            image_id = tarimport.import_tar(engine, src, args.reference, args.message, args.change)
    print(image_id)
    return 0


def cmd_save(args: argparse.Namespace) -> int:
    import os

    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.image import archive as imagearchive
    from tuidock.runtime.store import scratch

    engine = default_engine()
    if args.output:
        # Beside the destination for an atomic rename; a killed save's temp
        # is removed by the next save to the same destination.
        tmp = scratch.save_temp(args.output)
        try:
            with open(tmp, "wb") as f:
                imagearchive.save(engine, args.images, f)
            os.replace(tmp, args.output)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        return 0
    archive_stdout()
    imagearchive.save(engine, args.images, sys.stdout.buffer)
    sys.stdout.buffer.flush()
    return 0


def archive_stdout():
    """stdout for a tar archive; refused on a terminal, as docker save does."""
    if sys.stdout.isatty():
        raise UsageError("cowardly refusing to save to a terminal.", "Use the -o flag or redirect.")
    sys.stdout.flush()
    return sys.stdout.buffer


def archive_stdin():
    """stdin for a tar archive; refused on a terminal, as docker load does."""
    if sys.stdin.isatty():
        raise UsageError(
            "requested load from stdin, but stdin is empty", "Use -i FILE or redirect."
        )
    return sys.stdin.buffer


def cmd_load(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.image import archive as imagearchive

    engine = default_engine()
    if args.input:
        with open(args.input, "rb") as f:
            loaded = imagearchive.load(engine, f)
    else:
        archive_stdin()
        loaded = imagearchive.load(engine, sys.stdin.buffer)
    if not args.quiet:
        for image in loaded:
            if image.tags:
                for tag in image.tags:
                    print(f"Loaded image: {tag}")
            else:
                print(f"Loaded image ID: {image.image_id}")
    return 0
