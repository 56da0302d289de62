"""What a CLI start imports: the hot paths must not pay for the UI, HTTP or netlink.

Every `tuidock ps` pays for each module it loads before any work (~50 ms of a
~60 ms `--version` was imports), so the heavy libraries stay behind the
commands that use them: textual and rich for the UI and progress bars,
requests for registries, pyroute2 for bridges, the Docker SDK for remote
engines. Each case runs in a fresh interpreter against an empty data root and
lists the top-level packages loaded when the command is done.

The hot commands also have a budget each (BUDGETS): the tuidock modules
they may load and which of the costly stdlib modules (HEAVY_STDLIB: the
dataclasses/inspect/ast chain, typing, hashlib's OpenSSL, argparse...)
they may pull in. A module outside it is an import that belongs inside the
function using it; where a command really needs one, widen its budget
here, on purpose. bench/import_bench.py shows what each import costs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from containerhelp import image_fixture, no_leftovers_fixture

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name

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


# Costly to import (ms each, with what they pull in) and avoidable on most paths.
HEAVY_STDLIB = (
    "dataclasses",
    "inspect",
    "ast",
    "typing",
    "hashlib",
    "secrets",
    "platform",
    "subprocess",
    "tempfile",
    "ctypes",
    "threading",
    "argparse",
)


def _budget(heavy: str, modules: str) -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(heavy.split()), frozenset(f"tuidock.{m}" for m in modules.split())


_CLI = "cli cli.commands cli.endpoints cli.lazy cli.main core core.trace errors"
# Value types are core.record Records, not dataclasses: no dataclasses, inspect, ast.
_ENGINE = """
    core.humanize core.reference runtime runtime.engine runtime.image runtime.image.service
    runtime.linux runtime.linux.locking runtime.store runtime.store.ctrlayout
    runtime.store.events runtime.store.paths
"""
_CONTAINERS = """
    core.flagvalues core.status core.statusrules cli.commands.container runtime.container
    runtime.container.monitor runtime.container.monitor.protocol runtime.container.service
    runtime.container.views runtime.linux.procwatch runtime.store.containers
    runtime.store.execs
"""
_ATTACH = """
    cli.commands.container_io runtime.container.exec runtime.container.exec.plan
    runtime.container.exec.relay runtime.container.monitor.launch runtime.linux.cgroupfiles
"""
# command -> (heavy stdlib modules it may load, tuidock modules it may load)
BUDGETS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # argparse is not even built: `--version` is answered before.
    "--version": _budget("", "cli cli.main core core.trace errors"),
    "images": _budget(
        "argparse",
        f"{_CLI} {_ENGINE} cli.commands.image cli.output core.digest core.record"
        " runtime.store.images",
    ),
    "ps": _budget(
        "argparse",
        f"{_CLI} {_ENGINE} {_CONTAINERS} cli.commands.container_views cli.output"
        " runtime.network runtime.network.endpoint",
    ),
    "stop": _budget("argparse", f"{_CLI} {_ENGINE} {_CONTAINERS}"),
    "start": _budget("argparse", f"{_CLI} {_ENGINE} {_CONTAINERS} {_ATTACH}"),
    # A running container's cgroup (cgroups.py, spec.Limits) and network are undone.
    "rm": _budget(
        "argparse",
        f"{_CLI} {_ENGINE} {_CONTAINERS} core.record core.spec runtime.linux.cgroups"
        " runtime.network"
        " runtime.network.endpoint runtime.network.ipam runtime.network.usernets",
    ),
    # ctypes for the capability syscalls.
    "run": _budget(
        "argparse ctypes",
        f"""{_CLI} {_ENGINE} {_CONTAINERS} {_ATTACH} cli.commands.container_run core.digest
        core.platforms core.record core.spec runtime.container.create runtime.container.etcfiles
        runtime.container.options runtime.container.securityopt
        runtime.container.volumepopulate runtime.linux.capabilities runtime.linux.seccomp
        runtime.linux.syscalls runtime.store.blobs runtime.store.images runtime.store.layers
        runtime.store.volumes""",
    ),
    # its own parser, no engine
    "exec": _budget(
        "",
        """cli cli.commands cli.commands.exec cli.endpoints core core.statusrules errors runtime
        runtime.container runtime.container.exec runtime.container.exec.client
        runtime.container.exec.plan runtime.container.exec.relay runtime.linux
        runtime.linux.cgroupfiles runtime.store runtime.store.ctrlayout runtime.store.events
        runtime.store.execs""",
    ),
}

# The command as `python -m tuidock` and the console script run it (cli/entry.py),
# in-process so that sys.modules can be read at the end; written to argv[2].
_ENTRY_PROBE = """
import json, sys
argv = json.loads(sys.argv[1])
sys.argv = ["tuidock", *argv]
if argv[:1] == ["exec"]:
    from tuidock.cli.endpoints import remote_endpoint
    assert remote_endpoint(None) is None
    from tuidock.cli.commands.exec import main as exec_main
    code = exec_main(argv[1:])
else:
    from tuidock.cli.main import main
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own exits (--help, --version)
        code = e.code
with open(OUT, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def _over_budget(
    command: str, args: list[str], out: Path, budgets: dict | None = None
) -> list[str]:
    """Why `tuidock ARGS` is over its budget (empty: within it); it must succeed."""
    code = _ENTRY_PROBE.replace("OUT", repr(str(out)))
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and out.exists(), f"tuidock {' '.join(args)}: {proc.stderr}"
    result = json.loads(out.read_text())
    assert result["code"] == 0, f"tuidock {' '.join(args)} failed: {proc.stderr}"
    loaded = set(result["modules"])
    heavy_ok, tuidock_ok = (budgets or BUDGETS)[command]
    problems = []
    if third_party := sorted(m for m in HEAVY if m in loaded):
        problems.append(f"{command}: loads {', '.join(third_party)}")
    if heavy := sorted(m for m in HEAVY_STDLIB if m in loaded and m not in heavy_ok):
        problems.append(f"{command}: loads stdlib {', '.join(heavy)}")
    ours = {m for m in loaded if m == "tuidock" or m.startswith("tuidock.")} - {"tuidock"}
    if extra := sorted(ours - tuidock_ok):
        problems.append(f"{command}: loads {', '.join(extra)}")
    return problems


def test_hot_commands_stay_within_their_import_budget(
    image: str, tuidock_root: Path, tmp_path: Path
) -> None:
    from clihelp import tuidock

    name = f"budget-{os.getpid()}"
    # Made first: it also fills the data root's seccomp cache, so that the
    # `run` measured is a usual one (the first ever compiles the filter).
    res = tuidock("run", "-d", "--name", name, image, "sleep", "300")
    assert res.code == 0, res.err
    steps = [
        ("--version", ["--version"]),
        ("images", ["images"]),
        ("run", ["run", "--rm", "--network", "none", image, "true"]),
        ("ps", ["ps", "-a"]),
        ("exec", ["exec", name, "true"]),
        ("stop", ["stop", "-t", "0", name]),
        ("start", ["start", name]),
        ("rm", ["rm", "-f", name]),
    ]
    problems: list[str] = []
    try:
        for i, (command, args) in enumerate(steps):
            problems += _over_budget(command, args, tmp_path / f"{i}.json")
    finally:
        tuidock("rm", "-f", name)
    assert not problems, (
        "over the import budget (import these inside the functions that use them,"
        " or widen BUDGETS on purpose):\n  " + "\n  ".join(problems)
    )


# `-H unix://... ps` / `images` on Docker or Podman: the lean reader (backends/unixget.py),
# none of the SDK path (docker, requests, urllib3, http.client, email), nor endpoint.py's
# dataclasses and contexts.py.
_REMOTE = """
    backends backends.unixget cli cli.commands cli.endpoints cli.lazy cli.main cli.output
    cli.remote cli.remote._shared core core.humanize core.trace errors
"""
REMOTE_BUDGETS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "ps": _budget(
        "argparse",
        f"{_REMOTE} cli.commands.container cli.commands.container_views cli.remote.container_views"
        " core.flagvalues",
    ),
    "images": _budget(
        "argparse",
        f"{_REMOTE} cli.commands.image cli.remote.image core.reference",
    ),
    # exec: the lean client's POSTs and hijacked start, dockerexec's relays, no SDK,
    # no parser (cli/remote/exec.py lean_main); -w is checked by the shared exec
    # parser (runtime.container.options' check_workdir).
    "exec": _budget(
        "",
        f"{_REMOTE} backends.dockerattach backends.dockerexec backends.execops cli.commands.exec"
        " cli.remote.exec"
        " core.flagvalues core.record runtime runtime.container runtime.container.options",
    ),
}
REMOTE_HEAVY = ("http", "email", "dataclasses", "pathlib", "platformdirs")


def test_remote_ps_and_images_stay_lean(engine, tmp_path: Path, monkeypatch) -> None:
    from clihelp import tuidock

    monkeypatch.setenv("TUIDOCK_CONFIG", str(tmp_path / "config"))
    ctx = f"lean-{os.getpid()}"
    res = tuidock("context", "create", ctx, "--docker", f"host={engine.host}")
    assert res.code == 0, res.err
    problems: list[str] = []
    cases = [
        ("ps", ["--context", ctx, "ps", "-a", "-q"]),
        ("images", ["-c", ctx, "images", "-q"]),
        ("ps", ["-H", engine.host, "ps", "-a", "--format", "json"]),
        ("ps", ["-H", engine.host, "ps", "-s", "-n", "2", "-f", "status=running"]),
        ("images", ["-H", engine.host, "images", "-a", "--digests"]),
        ("images", ["-H", engine.host, "images", "--format", "{{json .}}", "busybox"]),
    ]
    for i, (command, args) in enumerate(cases):
        out = tmp_path / f"{i}.json"
        problems += _over_budget(command, args, out, REMOTE_BUDGETS)
        loaded = {m.split(".")[0] for m in json.loads(out.read_text())["modules"]}
        if stdlib := sorted(m for m in REMOTE_HEAVY if m in loaded):
            problems.append(f"{' '.join(args[2:])}: loads {', '.join(stdlib)}")
    assert not problems, "over the lean path's import budget:\n  " + "\n  ".join(problems)


def test_remote_exec_stays_lean(engine, registry, tmp_path: Path) -> None:
    import uuid

    from clihelp import tuidock

    name = f"lean-exec-{uuid.uuid4().hex[:10]}"
    busybox = registry.ref("oci/busybox")
    res = tuidock("-H", engine.host, "run", "-d", "--name", name, "--network", "none", busybox,
                  "sleep", "300")  # fmt: skip
    assert res.code == 0, res.err
    problems: list[str] = []
    cases = [
        ["-H", engine.host, "exec", name, "true"],
        ["-H", engine.host, "exec", "-i", "-e", "A=1", "-w", "/tmp", "-u", "0", name, "true"],
        ["-H", engine.host, "exec", "-d", name, "true"],
    ]
    try:
        for i, args in enumerate(cases):
            out = tmp_path / f"{i}.json"
            problems += _over_budget("exec", args, out, REMOTE_BUDGETS)
            loaded = {m.split(".")[0] for m in json.loads(out.read_text())["modules"]}
            if stdlib := sorted(m for m in REMOTE_HEAVY if m in loaded):
                problems.append(f"{' '.join(args[2:])}: loads {', '.join(stdlib)}")
    finally:
        tuidock("-H", engine.host, "rm", "-f", name)
    assert not problems, "over the lean exec's import budget:\n  " + "\n  ".join(problems)


# The shell pane's programs on a unix:// host (backends/docker.py exec_argv,
# attach_command): the lean client's requests and the relays, nothing of the SDK
# path, no argparse (their argv is read by hand on this path).
_PANE = "backends backends.dockerexec backends.execops backends.unixget errors"
PANE_BUDGETS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "exec": _budget("", _PANE),
    "attach": _budget(
        "", f"{_PANE} backends.attachrelay backends.detachwatch backends.dockerattach"
    ),
}
PANE_HEAVY = ("docker", "requests", "urllib3", "http", "email", "textual", "rich")

# The program as the pane runs it (`python -m MODULE ARGV`), in-process so that
# sys.modules can be read at its exit; stdin is a pipe, the output a file.
_PANE_PROBE = """
import json, runpy, sys
module, argv, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
sys.argv = [module, *argv]
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    code = None
except SystemExit as e:
    code = e.code
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def _pane_loaded(
    module: str, argv: list[str], stdin: bytes, out: Path
) -> tuple[object, set, bytes]:
    proc = subprocess.run(
        [sys.executable, "-c", _PANE_PROBE, module, json.dumps(argv), str(out)],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert out.exists(), proc.stderr.decode(errors="replace")
    result = json.loads(out.read_text())
    return result["code"], set(result["modules"]), proc.stdout + proc.stderr


def test_pane_exec_and_attach_on_unix_stay_lean(engine, registry, tmp_path: Path) -> None:
    import uuid

    from clihelp import tuidock

    name = f"lean-pane-{uuid.uuid4().hex[:10]}"
    busybox = registry.ref("oci/busybox")
    res = tuidock("-H", engine.host, "run", "-d", "-i", "--name", name, "--network", "none",
                  busybox, "sleep", "300")  # fmt: skip
    assert res.code == 0, res.err
    cases = [
        # exit 3: the exec's own code comes back through the lean requests
        ("exec", "tuidock.backends.dockerexec", [engine.host, name, "sh", "-c", "exit 3"], b"", 3),
        # ctrl-p ctrl-q on its input: the session detaches, 0
        ("attach", "tuidock.backends.attachrelay", [engine.host, name], b"\x10\x11", 0),
    ]
    problems: list[str] = []
    try:
        for i, (what, module, argv, stdin, want) in enumerate(cases):
            code, loaded, said = _pane_loaded(module, argv, stdin, tmp_path / f"{i}.json")
            assert code == want, f"{what}: exit {code}: {said!r}"
            heavy_ok, tuidock_ok = PANE_BUDGETS[what]
            roots = {m.split(".")[0] for m in loaded}
            if third := sorted(m for m in PANE_HEAVY if m in roots):
                problems.append(f"pane {what}: loads {', '.join(third)}")
            if heavy := sorted(m for m in HEAVY_STDLIB if m in loaded and m not in heavy_ok):
                problems.append(f"pane {what}: loads stdlib {', '.join(heavy)}")
            ours = {m for m in loaded if m.startswith("tuidock.")}
            if extra := sorted(ours - tuidock_ok):
                problems.append(f"pane {what}: loads {', '.join(extra)}")
    finally:
        tuidock("-H", engine.host, "rm", "-f", name)
    assert not problems, "over the pane programs' import budget:\n  " + "\n  ".join(problems)
