"""`tuidock build`: a corpus of Dockerfiles built from the busybox fixture, then run and inspected.

Each build runs the CLI in a fresh process against the test's own data
root; the results are run, and their `history` and `inspect` read back.
Where podman is installed the same Dockerfiles are built with `podman
build` and compared (config fields and the number of layers).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from clihelp import assert_clean_error, tuidock
from containerhelp import image_fixture, no_leftovers_fixture  # noqa: F401

from tuidock.runtime.build import dockerfile as dfmod
from tuidock.runtime.build.context import IgnoreMatcher


def write(ctx: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return ctx


def build(ctx: Path, *flags: str) -> str:
    res = tuidock("build", "-q", *flags, str(ctx))
    assert res.code == 0, res.out + res.err
    return res.out.strip()


def config_of(ref: str) -> dict:
    res = tuidock("image", "inspect", ref)
    assert res.code == 0, res.err
    return json.loads(res.out)[0]


def run_out(ref: str, *cmd: str) -> str:
    res = tuidock("run", "--rm", "--network", "none", ref, *cmd)
    assert res.code == 0, res.out + res.err
    return res.out


# -- the parser, without a build ---------------------------------------------------------------


def test_parser_directives_continuations_heredocs() -> None:
    text = (
        "# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\n# a comment\n"
        "RUN echo a `\n  # inside\n  b\nCOPY <<EOF /x\nhello $A\nEOF\nRUN <<-'END'\n\techo hi\n\tEND\n"
    )
    df = dfmod.parse(text)
    assert df.escape == "`"
    cmds = [(i.cmd, i.line) for i in df.instructions]
    assert cmds == [("FROM", 3), ("RUN", 5), ("COPY", 8), ("RUN", 11)]
    assert df.instructions[1].rest == "echo a   b"
    assert df.instructions[2].heredocs[0].content == "hello $A\n"
    assert df.instructions[2].heredocs[0].expand
    doc = df.instructions[3].heredocs[0]
    assert (doc.content, doc.expand) == ("echo hi\n", False)


def test_expansion_forms() -> None:
    lex = dfmod.ShellLex()
    env = {"A": "x", "E": ""}
    assert lex.word("${A}-$A-${B:-d}-${A:+alt}-${B:+alt}-${E-e}-${E:-f}", env) == "x-x-d-alt--" + "-f"
    assert lex.word("'$A' \"$A\" \\$A", env) == "$A x $A"
    assert lex.words('a "b c" d\\ e', env) == ["a", "b c", "d e"]


def test_dockerignore_patterns() -> None:
    m = IgnoreMatcher(["*.log", "secret", "docs/**/*.md", "!docs/keep/**", "/build", "!keep.log"])
    assert m.excluded("a.log") and not m.excluded("keep.log")
    assert m.excluded("sub/a.log") is False  # * does not cross a /
    assert m.excluded("secret/inner/file")  # a matching directory takes its contents
    assert m.excluded("docs/x/y/z.md") and not m.excluded("docs/keep/z.md")
    assert m.excluded("build/out")


def test_unknown_instruction_names_file_and_line(tmp_path: Path, tuidock_root: Path) -> None:
    write(tmp_path, {"Dockerfile": "FROM scratch\n\nFOO bar\n"})
    res = tuidock("build", str(tmp_path))
    assert_clean_error(res)
    assert "Dockerfile:3: unknown instruction: FOO" in res.err


def test_missing_from_and_unknown_stage(tmp_path: Path, tuidock_root: Path) -> None:
    write(tmp_path, {"Dockerfile": "RUN true\n"})
    res = tuidock("build", str(tmp_path))
    assert_clean_error(res)
    assert "Dockerfile:1:" in res.err
    write(tmp_path, {"Dockerfile": "FROM scratch AS a\nCOPY Dockerfile /\n"})
    res = tuidock("build", "--target", "nope", str(tmp_path))
    assert_clean_error(res)
    assert "nope" in res.err
