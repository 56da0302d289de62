"""The suite runs on the oldest interpreter the package admits.

The README's target is a fresh Debian 12, whose python3 is 3.11.2. A newer
3.11.x has stdlib features the target lacks (tarfile's `filter=` and
`TarInfo.replace` came in 3.11.4), and code using them passes every test on the
newer interpreter and fails for the user. So the interpreter running the tests
must be exactly the floor that `requires-python` states; scripts/test.sh
builds its venv from /usr/bin/python3 for that reason.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def requires_python_floor() -> tuple[int, ...]:
    spec = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
    match = re.fullmatch(r">=\s*(\d+)\.(\d+)\.(\d+)", spec.strip())
    assert match, f"requires-python must state a full floor version (>=X.Y.Z), not {spec!r}"
    return tuple(int(part) for part in match.groups())


def test_interpreter_is_the_requires_python_floor() -> None:
    floor = requires_python_floor()
    running = sys.version_info[:3]
    assert running == floor, (
        f"tests run on Python {'.'.join(map(str, running))}, but requires-python admits "
        f"{'.'.join(map(str, floor))}: stdlib features newer than the floor would go unseen. "
        "Run the suite through scripts/test.sh (Debian's /usr/bin/python3)."
    )


def test_stdlib_is_the_interpreters_own() -> None:
    # A venv whose stdlib comes from another prefix (a pyenv build symlinked in)
    # would run 3.11.2's version string over a newer library.
    import tarfile

    assert Path(tarfile.__file__).resolve().is_relative_to(Path(sys.base_prefix).resolve())
    assert not hasattr(tarfile, "data_filter") or running_at_least((3, 11, 4))


def running_at_least(version: tuple[int, int, int]) -> bool:
    return sys.version_info[:3] >= version
