"""Text files the user hands us (--env-file, seccomp profiles, config files), read bounded.

A path can name /dev/zero, a sparse file of terabytes or a binary: reading
stops at a cap (cap + 1 bytes are read, so "too large" is known without
reading more), and what was read must be text: no NUL byte, valid UTF-8,
and for line-oriented files no line longer than podman's bufio.Scanner
allows (64 KiB). Each refusal names the file and, where it has one, the
line. Opening the file is the caller's business: OSError passes through,
since a missing config file means "defaults" while a missing --env-file is
an error.
"""

from __future__ import annotations

from typing import BinaryIO

from tuidock.errors import UsageError

LINE_MAX = 64 * 1024  # bufio.Scanner's default token size, as podman reads env files
LINES_MAX = 1 << 20  # env files and the password on stdin
DOCUMENT_MAX = 4 << 20  # JSON and TOML: seccomp profiles, registries.toml, auth.json, ui.toml

NL = b"\n"


class UserFileError(UsageError):
    """A user-supplied file that is too large or not text."""


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def read_user_text(
    source: str | BinaryIO, what: str, limit: int, line_max: int | None = None, shown: str = ""
) -> str:
    """The UTF-8 text of `source` (a path, or an open binary stream shown as `shown`).

    `what` says what the file is for messages ("env file", "seccomp profile").
    """
    if isinstance(source, str):
        shown = shown or source
        with open(source, "rb") as f:
            data = f.read(limit + 1)
    else:
        data = source.read(limit + 1)

    def refuse(problem: str, at: int | None) -> UserFileError:
        line = f"line {data.count(NL, 0, at) + 1}: " if at is not None else ""
        return UserFileError(
            f'parsing {what} "{shown}": {line}{problem}',
            f"Give a UTF-8 text file of at most {_size(limit)}"
            + (f" with lines of at most {_size(line_max)}." if line_max else "."),
        )

    nul = data.find(b"\0")
    if nul >= 0:
        raise refuse("holds a NUL byte; not a text file", nul)
    if line_max is not None:
        start = 0
        while start < len(data):
            end = data.find(NL, start)
            end = len(data) if end < 0 else end
            if end - start > line_max:
                raise refuse(f"too long (over {_size(line_max)})", start)
            start = end + 1
    if len(data) > limit:
        raise refuse(f"larger than {_size(limit)}", None)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise refuse("not valid UTF-8", e.start) from None
