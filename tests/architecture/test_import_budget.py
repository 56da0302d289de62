"""What a CLI start imports: the hot paths must not pay for the UI, HTTP or netlink.

Every `tuidock ps` pays for each module it loads before any work (~50 ms of a
~60 ms `--version` was imports), so the heavy libraries stay behind the
commands that use them: textual and rich for the UI and progress bars,
requests for registries, pyroute2 for bridges, the Docker SDK for remote
engines. Each case runs in a fresh interpreter against an empty data root and
lists the top-level packages loaded when the command is done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("textual", "rich", "requests", "urllib3", "pyroute2", "docker", "zstandard")

_PROBE = """
import json, sys
sys.argv = ["tuidock", *json.loads(sys.argv[1])]
from tuidock.cli.main import main
try:
    code = main() if sys.argv[1:2] != ["exec"] else None
except SystemExit as e:
    code = e.code
roots = sorted({m.split(".")[0] for m in sys.modules})
print("\\nLOADED:" + json.dumps(roots), file=sys.stderr)
"""

_PARSER_ONLY = """
import json, sys
from tuidock.cli.main import build_parser
build_parser()
print("LOADED:" + json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _loaded(code: str, *args: str, root: Path) -> list[str]:
    env = dict(os.environ, TUIDOCK_ROOT=str(root))
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(list(args))],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    marked = [
        line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("LOADED:")
    ]
    assert marked, proc.stderr
    return json.loads(marked[-1].removeprefix("LOADED:"))


def test_building_the_parser_loads_no_heavy_package(tmp_path: Path) -> None:
    loaded = _loaded(_PARSER_ONLY, root=tmp_path)
    assert [m for m in HEAVY if m in loaded] == []


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["ps", "-a"],
        ["images"],
        ["volume", "ls"],
        ["network", "ls"],
        ["stop", "nosuch"],
        ["context", "ls"],
        ["--context", "local", "ps"],
    ],
    ids=lambda a: " ".join(a),
)
def test_hot_commands_load_no_heavy_package(args: list[str], tmp_path: Path) -> None:
    loaded = _loaded(_PROBE, *args, root=tmp_path)
    assert [m for m in HEAVY if m in loaded] == []


def test_exec_loads_no_heavy_package(tmp_path: Path) -> None:
    code = """
import json, sys
from tuidock.cli.commands.exec import main
try:
    main(["nosuch", "true"])
except SystemExit:
    pass
print("LOADED:" + json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""
    loaded = _loaded(code, root=tmp_path)
    assert "tuidock" in loaded
    assert [m for m in HEAVY if m in loaded] == []
