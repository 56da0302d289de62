"""`tuidock completion bash|zsh`: scripts run in real shells against a real root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from clihelp import assert_clean_error, tuidock
from containerhelp import image_fixture, no_leftovers_fixture

from tuidock.cli.completion import command_tables
from tuidock.cli.main import build_parser

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name

# The venv's `tuidock` entry point: the scripts call it for names.
BIN = str(Path(sys.executable).parent)


def script(shell: str, tmp_path: Path) -> Path:
    res = tuidock("completion", shell)
    assert res.code == 0, res.err
    path = tmp_path / f"tuidock.{shell}"
    path.write_text(res.out)
    return path


def shell_env() -> dict[str, str]:
    return {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}


def bash_complete(path: Path, *words: str) -> list[str]:
    """COMPREPLY of the generated function for the command line `words` (last: being typed)."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    return _bash_reply(path, f"COMP_WORDS=(tuidock {quoted}); COMP_CWORD={len(words)}")


def bash_complete_line(path: Path, line: str) -> list[str]:
    """The same, as bash calls it from a prompt: COMP_LINE and the cursor at its end."""
    return _bash_reply(path, f"COMP_LINE='{line}'; COMP_POINT={len(line)}")


def _bash_reply(path: Path, setup: str) -> list[str]:
    code = f'source {path}\n{setup}\n_tuidock\nprintf "%s\\n" "${{COMPREPLY[@]}}"\n'
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", code],
        capture_output=True,
        text=True,
        env=shell_env(),
        timeout=30,
    )
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    return [w for w in proc.stdout.splitlines() if w]


def test_bash_script_completes_commands_flags_and_choices(tuidock_root: Path, tmp_path) -> None:
    path = script("bash", tmp_path)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    assert bash_complete(path, "ima") == ["images", "image"]
    assert set(bash_complete(path, "")) >= {"run", "ps", "events", "completion", "volume"}
    assert "__complete" not in bash_complete(path, "")  # hidden
    assert bash_complete(path, "image", "p") == ["pull", "push", "prune"]
    assert bash_complete(path, "volume", "ls", "--f") == ["--filter", "--format"]
    assert bash_complete(path, "events", "--") == [
        "--help",
        "--since",
        "--until",
        "--filter",
        "--format",
    ]
    assert bash_complete(path, "completion", "") == ["bash", "zsh"]
    # A flag's value is not a positional: `run --name web <TAB>` wants an image.
    assert bash_complete(path, "network", "connect", "") == ["bridge", "host", "none"]
    # Lazily built subparsers (cli/lazy.py) are in the tables too.
    assert "--all" in bash_complete(path, "container", "ls", "--")


def test_bash_completes_names_from_the_stores(image: str, tmp_path: Path) -> None:
    res = tuidock("run", "-d", "--name", "compl-web", image, "sleep", "30")
    assert res.code == 0, res.err
    assert tuidock("volume", "create", "compl-vol").code == 0
    path = script("bash", tmp_path)
    assert bash_complete(path, "stop", "compl") == ["compl-web"]
    # After a flag that takes a value (-t 1), the next word is still a container.
    assert bash_complete(path, "stop", "-t", "1", "compl-") == ["compl-web"]
    assert bash_complete(path, "rm", "-f", "compl-web", "") == ["compl-web"]  # repeats
    assert bash_complete(path, "volume", "rm", "") == ["compl-vol"]
    repo = image.rsplit(":", 1)[0]
    assert bash_complete(path, "run", "--name", "x", "") == [image]
    assert bash_complete(path, "rmi", repo[:5]) == [image]
    assert bash_complete(path, "run", "--network", "h") == ["host"]
    # Typed at a prompt, a reference with colons: bash replaces what follows the last one.
    typed = image[: image.index("/") + 3]  # 127.0.0.1:PORT/oc
    after = typed[: typed.rindex(":") + 1]
    assert bash_complete_line(path, f"tuidock rmi {typed}") == [image[len(after) :]]
    assert bash_complete_line(path, "tuidock volume rm ") == ["compl-vol"]
    assert tuidock("__complete", "containers").out == "compl-web\n"
    assert tuidock("__complete", "volumes").out == "compl-vol\n"
    assert tuidock("__complete", "images").out == image + "\n"
    assert_clean_error(tuidock("__complete", "pods"))
    assert tuidock("rm", "-f", "compl-web").code == 0


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script(tuidock_root: Path, tmp_path: Path) -> None:
    path = script("zsh", tmp_path)
    assert subprocess.run(["zsh", "-n", str(path)]).returncode == 0
    assert tuidock("volume", "create", "zvol").code == 0

    def candidates(*words: str) -> str:
        quoted = " ".join("'" + w + "'" for w in words)
        code = (
            f"autoload -U compinit; compinit -u -d {tmp_path}/zcompdump\n"
            f"source {path}\n"
            f"words=(tuidock {quoted}); CURRENT={len(words) + 1}\n"
            '__tuidock_candidates; print -r -- "$__tuidock_kind:${reply[*]}"\n'
        )
        proc = subprocess.run(
            ["zsh", "-f", "-c", code], capture_output=True, text=True, env=shell_env(), timeout=30
        )
        assert proc.returncode == 0 and not proc.stderr, proc.stderr
        return proc.stdout.strip()

    assert candidates("volume", "rm", "") == "volumes:zvol"
    assert candidates("completion", "") == "=bash,zsh:bash zsh"
    assert candidates("network", "connect", "") == "networks:bridge host none"
    assert candidates("events", "--f").startswith("opts:-h --help --since")
    kind, _, words = candidates("ima").partition(":")
    assert kind == "subs" and {"pull", "push", "images", "image", "history"} <= set(words.split())
    assert candidates("cp", "-a", "") == "files:"


def test_tables_follow_the_parser() -> None:
    tables = command_tables(build_parser())
    assert "tuidock container ls" in tables.opts  # forced lazy subparser
    assert tables.args["tuidock network connect"] == "networks containers"
    assert tables.args["tuidock rm"] == "containers+"
    assert "--name" in tables.valopts["tuidock run"] and "--rm" not in tables.valopts["tuidock run"]
    assert tables.optargs["tuidock run --network"] == "networks"
    assert tables.optargs["tuidock save -o"] == "files"


def test_every_command_module_is_in_the_help_order() -> None:
    # A command a module adds but cli/main.py's HELP_ORDER lacks would not exist.
    import importlib

    from tuidock.cli.main import HELP_ORDER

    ordered = [(module, name) for module, names in HELP_ORDER for name in names]
    assert len(ordered) == len(set(ordered))
    for module in {m for m, _ in HELP_ORDER}:
        commands = importlib.import_module(f"tuidock.cli.commands.{module}").COMMANDS
        assert sorted(commands) == sorted(n for m, n in ordered if m == module)
