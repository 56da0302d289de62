"""Files the user hands the CLI are read bounded: /dev/zero or a binary is a clean error."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clihelp import Result, assert_clean_error, tuidock
from containerhelp import image_fixture, no_leftovers_fixture

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name

MEMORY_CAP = 1 << 30  # an unbounded read of /dev/zero ends in MemoryError under this


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _run(argv: list[str], stdin: Path | None = None, env: dict | None = None) -> Result:
    with open(stdin or os.devnull, "rb") as f:
        proc = subprocess.run(
            argv,
            stdin=f,
            capture_output=True,
            timeout=60,
            env={**os.environ, **(env or {})},
            preexec_fn=_capped,
        )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode(errors="replace"))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tuidock", *args]


def _ui_loader(what: str) -> list[str]:
    # keys.toml and ui.toml are read by the TUI, which reports problems instead of failing.
    code = {
        "keys": "from tuidock.keymap import load_keymap as f; print(f(P(sys.argv[1]))[1])",
        "ui": "from tuidock.uiconfig import load_ui_config as f; print(f(P(sys.argv[1])).problems)",
    }[what]
    return [sys.executable, "-c", f"import sys; from pathlib import Path as P; {code}"]


def _make(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / f"input-{kind}"
    if kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "sparse":
        with open(path, "wb") as f:
            f.truncate(64 << 30)  # 64 GiB of zeros that take no disk
    elif kind == "big-text":
        path.write_bytes((b"#" + b"x" * 62 + b"\n") * (80 << 10))  # 5 MiB of short lines
    else:  # binary: not UTF-8
        path.write_bytes(b"A=1\nB=\xff\xfe\x80\n")
    return path


FLAGS = [
    "run --env-file",
    "create --env-file",
    "exec --env-file",
    "run --security-opt seccomp=",
    "login --password-stdin",
    "registries.toml",
    "auth.json",
    "docker config.json",
    "keys.toml",
    "ui.toml",
]


@pytest.mark.parametrize("kind", ["dev-zero", "sparse", "big-text", "binary"])
@pytest.mark.parametrize("flag", FLAGS)
def test_user_files_are_read_bounded(
    image: str, tuidock_root: Path, tmp_path: Path, flag: str, kind: str
) -> None:
    src = _make(kind, tmp_path)
    config = Path(os.environ["TUIDOCK_CONFIG"])
    shown, stdin, env = str(src), None, {}
    if flag == "exec --env-file":
        res = tuidock("run", "-d", "--name", "target", image, "sleep", "60")
        assert res.code == 0, res.err
    argv = {
        "run --env-file": _cli("run", "--rm", "--env-file", str(src), image, "true"),
        "create --env-file": _cli("create", "--env-file", str(src), image, "true"),
        "exec --env-file": _cli("exec", "--env-file", str(src), "target", "true"),
        "run --security-opt seccomp=": _cli(
            "run", "--rm", "--security-opt", f"seccomp={src}", image, "true"
        ),
        "login --password-stdin": _cli("login", "-u", "me", "--password-stdin", "127.0.0.1:1"),
        "registries.toml": _cli("pull", "127.0.0.1:1/nothing"),
        "auth.json": _cli("logout", "127.0.0.1:1"),
        "docker config.json": _cli("pull", "127.0.0.1:1/nothing"),
        "keys.toml": [*_ui_loader("keys"), str(config)],
        "ui.toml": [*_ui_loader("ui"), str(config)],
    }[flag]
    if flag == "login --password-stdin":
        stdin, shown = src, "stdin"
    elif flag == "docker config.json":
        docker = tmp_path / "docker"
        docker.mkdir()
        (docker / "config.json").symlink_to(src)
        env, shown = {"DOCKER_CONFIG": str(docker)}, str(docker / "config.json")
    elif not flag.startswith(("run", "create", "exec")):
        (config / flag).symlink_to(src)
        shown = str(config / flag)
    started = time.monotonic()
    res = _run(argv, stdin, env)
    assert time.monotonic() - started < 30
    assert "MemoryError" not in res.err and "internal error" not in res.err, res.err
    assert f'"{shown}"' in res.err + res.out, (res.out, res.err)
    if flag.endswith(".toml") and flag != "registries.toml":
        assert res.code == 0, res.err  # a broken UI config file is a problem shown, not a failure
    else:
        assert_clean_error(res)
    # Refused before anything was made: only exec's target container exists.
    made = tuidock_root / "containers"
    ids = [p for p in made.iterdir() if len(p.name) == 64] if made.is_dir() else []
    assert len(ids) == (1 if flag == "exec --env-file" else 0)


def test_a_bad_env_file_fails_before_the_image_is_pulled(tmp_path: Path) -> None:
    src = _make("binary", tmp_path)
    res = tuidock("run", "--rm", "--env-file", str(src), "127.0.0.1:1/absent", "true")
    assert_clean_error(res)
    assert f'"{src}"' in res.err and "Unable to find image" not in res.err, res.err
