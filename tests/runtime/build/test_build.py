"""`tuidock build`: a corpus of Dockerfiles built from the busybox fixture, then run and inspected.

Each build runs the CLI in a fresh process against the test's own data
root; the results are run, and their `history` and `inspect` read back.
Where podman is installed the same Dockerfiles are built with `podman
build` and compared (config fields and the number of layers).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
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
    assert (
        lex.word("${A}-$A-${B:-d}-${A:+alt}-${B:+alt}-${E-e}-${E:-f}", env) == "x-x-d-alt--" + "-f"
    )
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


# -- builds ------------------------------------------------------------------------------------

EVERY = """\
ARG BASE
FROM ${BASE} AS base
LABEL org.example.title="a b" version=1
ENV GREETING=hello NAME=world
ARG WHO=nobody
ENV FROM_ARG=${WHO:-x}
WORKDIR /app
COPY hello.txt ./
COPY dir/ /data/
ADD files.tar /extracted/
RUN echo "$GREETING $WHO" > /app/run.txt && mkdir -p /var/lib/x
USER 1000:1000
EXPOSE 8080 53/udp
VOLUME ["/vol"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --retries=2 CMD true
SHELL ["/bin/sh", "-c"]
ONBUILD RUN echo triggered > /tmp/onbuild.txt
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/run.txt"]
"""


def _every_context(tmp_path: Path) -> Path:
    import tarfile

    ctx = write(
        tmp_path / "ctx", {"Dockerfile": EVERY, "hello.txt": "hi\n", "dir/a": "A", "dir/sub/b": "B"}
    )
    src = tmp_path / "t.txt"
    src.write_text("in tar\n")
    with tarfile.open(ctx / "files.tar", "w") as tar:
        tar.add(src, arcname="inner/t.txt")
    return ctx


def test_every_instruction(tmp_path: Path, image: str) -> None:
    ctx = _every_context(tmp_path)
    res = tuidock(
        "build",
        "-t",
        "every:1",
        "--build-arg",
        f"BASE={image}",
        "--build-arg",
        "WHO=me",
        "--network",
        "none",
        str(ctx),
    )
    assert res.code == 0, res.out + res.err
    assert "Step 1/20 : ARG BASE" in res.out
    assert "Successfully tagged every:1" in res.out
    assert "Successfully built " in res.out
    assert run_out("every:1") == "hello me\n"
    assert (
        run_out("every:1", "cat /app/hello.txt /data/a /data/sub/b /extracted/inner/t.txt")
        == "hi\nABin tar\n"
    )
    cfg = config_of("every:1")["Config"]
    assert cfg["Labels"] == {"org.example.title": "a b", "version": "1"}
    assert "GREETING=hello" in cfg["Env"] and "FROM_ARG=me" in cfg["Env"]
    assert cfg["WorkingDir"] == "/app"
    assert cfg["User"] == "1000:1000"
    assert cfg["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert cfg["Volumes"] == {"/vol": {}}
    assert cfg["StopSignal"] == "SIGUSR1"
    assert cfg["Healthcheck"] == {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 5_000_000_000,
        "Retries": 2,
    }
    assert cfg["OnBuild"] == ["RUN echo triggered > /tmp/onbuild.txt"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["Cmd"] == ["cat /app/run.txt"]
    hist = tuidock("history", "--no-trunc", "--format", "{{.CreatedBy}}", "every:1")
    assert hist.code == 0, hist.err
    lines = hist.out.splitlines()
    assert lines[0] == '/bin/sh -c #(nop)  CMD ["cat /app/run.txt"]'
    assert (
        '|1 WHO=me /bin/sh -c echo "$GREETING $WHO" > /app/run.txt && mkdir -p /var/lib/x' in lines
    )
    assert "/bin/sh -c #(nop) WORKDIR /app" in lines
    assert any(
        line.startswith("/bin/sh -c #(nop) COPY file:") and line.endswith(" in /app/ ")
        for line in lines
    )

    # An unchanged rebuild reuses every step.
    start = time.monotonic()
    again = tuidock(
        "build",
        "-t",
        "every:1",
        "--build-arg",
        f"BASE={image}",
        "--build-arg",
        "WHO=me",
        "--network",
        "none",
        str(ctx),
    )
    took = time.monotonic() - start
    assert again.code == 0, again.err
    assert again.out.count("Using cache") == 18
    print(f"cached rebuild of a 20-step Dockerfile: {took * 1000:.0f} ms (CLI process included)")
    assert again.out.splitlines()[-2] == res.out.splitlines()[-2]  # the same IMAGE ID

    # A changed source invalidates its step and those after it.
    (ctx / "hello.txt").write_text("changed\n")
    third = tuidock(
        "build",
        "-q",
        "--build-arg",
        f"BASE={image}",
        "--build-arg",
        "WHO=me",
        "--network",
        "none",
        str(ctx),
    )
    assert third.code == 0, third.err
    assert run_out(third.out.strip(), "cat /app/hello.txt") == "changed\n"

    # ONBUILD runs when a later build uses the image.
    child = write(tmp_path / "child", {"Dockerfile": "FROM every:1\n"})
    cid = build(child, "--network", "none")
    assert run_out(cid, "cat /tmp/onbuild.txt") == "triggered\n"


def test_multistage_copy_from_heredocs_and_target(tmp_path: Path, image: str) -> None:
    df = f"""\
FROM {image} AS builder
RUN <<EOF
mkdir -p /out
echo built > /out/artifact
EOF
COPY <<EOF /out/note
note $HOSTNAME_UNSET
EOF
FROM scratch AS unused
COPY Dockerfile /
FROM {image}
COPY --from=builder /out/ /app/
COPY --from=0 --chmod=700 /out/artifact /bin/artifact-copy
CMD ["cat", "/app/artifact"]
"""
    ctx = write(tmp_path, {"Dockerfile": df})
    ref = build(ctx, "--network", "none")
    assert run_out(ref) == "built\n"
    assert run_out(ref, "cat", "/app/note") == "note \n"
    assert run_out(ref, "stat", "-c", "%a", "/bin/artifact-copy") == "700\n"
    layers = config_of(ref)["RootFS"]["Layers"]
    base = config_of(image)["RootFS"]["Layers"]
    assert len(layers) == len(base) + 2
    target = build(ctx, "--target", "builder", "--network", "none")
    assert run_out(target, "cat", "/out/artifact") == "built\n"


def test_dockerignore_and_reinclusion(tmp_path: Path, image: str) -> None:
    ctx = write(
        tmp_path,
        {
            "Dockerfile": f"FROM {image}\nCOPY . /ctx/\n",
            ".dockerignore": "*.secret\nlogs\n!logs/keep.log\n",
            "a.secret": "s",
            "ok.txt": "ok",
            "logs/drop.log": "d",
            "logs/keep.log": "k",
        },
    )
    ref = build(ctx, "--network", "none")
    listing = run_out(ref, "find", "/ctx", "-type", "f").split()
    assert sorted(listing) == [
        "/ctx/.dockerignore",
        "/ctx/Dockerfile",
        "/ctx/logs/keep.log",
        "/ctx/ok.txt",
    ]
    # An ignored file cannot be named either.
    write(ctx, {"Dockerfile": f"FROM {image}\nCOPY a.secret /\n"})
    res = tuidock("build", str(ctx))
    assert_clean_error(res)
    assert "Dockerfile:2: COPY failed" in res.err


def test_hostile_context_stays_inside(tmp_path: Path, image: str) -> None:
    outside = tmp_path / "outside"
    write(outside, {"secret": "TOP SECRET"})
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "link_out").symlink_to(outside / "secret")
    (ctx / "dir_out").symlink_to(outside)
    (ctx / "rel_out").symlink_to("../outside/secret")
    for src in (
        "link_out",
        "dir_out/secret",
        "rel_out",
        "../outside/secret",
        str(outside / "secret"),
    ):
        write(ctx, {"Dockerfile": f"FROM {image}\nCOPY {src} /got\n"})
        res = tuidock("build", str(ctx))
        assert_clean_error(res)
        assert "COPY failed" in res.err, (src, res.err)
    # Copied as a directory, the symlinks stay symlinks: nothing of their targets is read.
    write(ctx, {"Dockerfile": f"FROM {image}\nCOPY . /ctx/\n"})
    ref = build(ctx, "--network", "none")
    out = run_out(ref, "sh", "-c", "readlink /ctx/link_out; ls /ctx; cat /ctx/rel_out || true")
    assert "TOP SECRET" not in out
    assert str(outside / "secret") in out


def test_failing_run_leaves_nothing(tmp_path: Path, image: str, tuidock_root: Path) -> None:
    ctx = write(tmp_path, {"Dockerfile": f"FROM {image}\nENV A=1\nRUN false\n"})
    before = tuidock("images", "-q").out.split()
    res = tuidock("build", "--network", "none", str(ctx))
    assert res.code == 1
    assert "The command '/bin/sh -c false' returned a non-zero code: 1" in res.err
    assert "Traceback" not in res.err
    assert tuidock("ps", "-aq").out.strip() == ""
    tmp = tuidock_root / "tmp"
    assert not tmp.exists() or not list(tmp.iterdir())
    after = tuidock("images", "-q").out.split()
    # Only the complete image of the ENV step (a cache entry) was added, nothing half made.
    assert len(after) - len(before) <= 1


def test_killed_build_is_cleaned_up(tmp_path: Path, image: str, tuidock_root: Path) -> None:
    import signal

    from clihelp import tuidock_popen

    ctx = write(tmp_path, {"Dockerfile": f"FROM {image}\nRUN sleep 30\n"})
    proc = tuidock_popen("build", "--network", "none", str(ctx))
    deadline = time.monotonic() + 20
    while tuidock("ps", "-q").out.strip() == "" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tuidock("ps", "-q").out.strip() != ""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The next build removes the dead build's container; prune reclaims its scratch files.
    write(ctx, {"Dockerfile": f"FROM {image}\nRUN true\n"})
    build(ctx, "--network", "none")
    assert tuidock("ps", "-aq").out.strip() == ""
    assert tuidock("image", "prune", "-f").code == 0
    tmp = tuidock_root / "tmp"
    assert not tmp.exists() or not list(tmp.iterdir())


def test_default_network_and_build_args(tmp_path: Path, image: str) -> None:
    ctx = write(tmp_path, {"Dockerfile": f"FROM {image}\nARG V\nRUN echo v=$V > /v\n"})
    ref = build(ctx, "--build-arg", "V=1")
    assert run_out(ref, "cat", "/v") == "v=1\n"
    res = tuidock("build", "--build-arg", "=x", str(ctx))
    assert_clean_error(res)


PODMAN_FIELDS = (
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
)


def podman(tmp: Path, registry_host: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """podman with a private storage root and the config this machine needs."""
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "containers.conf"
    conf.write_text(
        '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "runc"\n'
    )
    regs = tmp / "registries.conf"
    regs.write_text(f'[[registry]]\nlocation = "{registry_host}"\ninsecure = true\n')
    monkeypatch.setenv("CONTAINERS_CONF", str(conf))
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(regs))
    run = tempfile.mkdtemp(prefix="pm-", dir="/tmp")  # podman wants a runroot of at most 50 chars
    return ["podman", "--root", str(tmp / "root"), "--runroot", run, "--storage-driver", "overlay"]


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")
def test_same_as_podman_build(tmp_path: Path, image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _every_context(tmp_path)
    (ctx / "Dockerfile").write_text(EVERY.replace("HEALTHCHECK", "# HEALTHCHECK"))
    mine = build(ctx, "--build-arg", f"BASE={image}", "--network", "none")
    pm = podman(tmp_path / "podman", image.split("/")[0], monkeypatch)
    res = subprocess.run(
        [
            *pm,
            "build",
            "--format",
            "docker",
            "--network",
            "none",
            "--build-arg",
            f"BASE={image}",
            "-t",
            "cmp",
            str(ctx),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        assert res.returncode == 0, res.stdout + res.stderr
        out = subprocess.run(
            [*pm, "image", "inspect", "cmp"], capture_output=True, text=True, check=True
        )
        theirs = json.loads(out.stdout)[0]
        ours = config_of(mine)
        for key in PODMAN_FIELDS:
            want = theirs["Config"].get(key) or None
            got = ours["Config"].get(key) or None
            if key == "Labels" and want:
                want = {k: v for k, v in want.items() if not k.startswith("io.buildah")} or None
            assert got == want, (key, got, want)
        assert len(ours["RootFS"]["Layers"]) == len(theirs["RootFS"]["Layers"])
    finally:
        subprocess.run([*pm, "system", "reset", "-f"], capture_output=True, timeout=120)
        shutil.rmtree(pm[4], ignore_errors=True)


# -- intermediate images -----------------------------------------------------------------------


def _ids(*flags: str) -> list[str]:
    res = tuidock("images", "-q", "--no-trunc", *flags)
    assert res.code == 0, res.err
    return res.out.split()


def test_intermediate_images_hidden_unless_all(tmp_path: Path, image: str) -> None:
    ctx = write(tmp_path, {"Dockerfile": f'FROM {image}\nENV A=1\nRUN echo x > /x\nCMD ["sh"]\n'})
    base = _ids()
    final = build(ctx, "-t", "inter:1", "--network", "none")
    # As docker: untagged images with children (the steps' images) only with -a.
    assert set(_ids()) == {*base, final}
    listing = tuidock("images")
    assert "<none>" not in listing.out, listing.out
    every = _ids("-a")
    assert len(every) == len(base) + 3  # ENV, RUN and the final CMD image
    inspect = config_of(final)
    assert inspect["Parent"] in every and inspect["Parent"] != final

    # prune leaves the steps' images of a tagged image: they are its cache.
    assert tuidock("image", "prune", "-f").code == 0
    assert set(_ids("-a")) == set(every)
    again = tuidock("build", "-t", "inter:1", "--network", "none", str(ctx))
    assert again.out.count("Using cache") == 3, again.out

    # A rebuild that moves the tag leaves the old final image dangling: shown,
    # and pruned alone (its parent still has a child).
    write(ctx, {"Dockerfile": f'FROM {image}\nENV A=1\nRUN echo x > /x\nCMD ["true"]\n'})
    second = build(ctx, "-t", "inter:1", "--network", "none")
    assert set(_ids()) == {*base, final, second}
    pruned = tuidock("image", "prune", "-f")
    assert pruned.code == 0 and f"deleted: {final}" in pruned.out.lower(), pruned.out
    assert set(_ids()) == {*base, second}
    assert len(_ids("-a")) == len(base) + 3

    # rmi deletes the untagged parents with it, as docker's rmi does.
    res = tuidock("rmi", "inter:1")
    assert res.code == 0, res.err
    assert res.out.count("Deleted:") == 3, res.out
    assert set(_ids("-a")) == set(base)


# -- the backend's build: streaming and cancel -------------------------------------------------


def _backend_build(spec, on_line, cancel):  # type: ignore[no-untyped-def]
    from uihelp import local_backend

    return local_backend().build(spec, on_line, cancel)


def _nothing_left(root: Path, images_before: list[str]) -> None:
    assert tuidock("ps", "-aq").out.strip() == ""
    tmp = root / "tmp"
    assert not tmp.exists() or not list(tmp.iterdir()), list(tmp.iterdir())
    assert set(_ids("-a")) == set(images_before)


def test_backend_build_streams_lines_and_cancels_a_running_run(
    tmp_path: Path, image: str, tuidock_root: Path
) -> None:
    import threading

    from tuidock.backends.base import BuildSpec
    from tuidock.errors import TuidockError

    ctx = write(tmp_path, {"Dockerfile": f"FROM {image}\nRUN echo out-$((1+1)) && sleep 30\n"})
    before = _ids("-a")
    lines: list[str] = []
    cancel = threading.Event()
    result: list[object] = []

    def run() -> None:
        try:
            result.append(_backend_build(BuildSpec(str(ctx)), lines.append, cancel))
        except TuidockError as exc:
            result.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 30
    while "out-2" not in lines and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "Step 2/2 : RUN echo out-$((1+1)) && sleep 30" in lines, lines
    assert "out-2" in lines
    started = time.monotonic()
    cancel.set()
    worker.join(20)
    assert not worker.is_alive()
    assert time.monotonic() - started < 10
    assert isinstance(result[0], TuidockError) and result[0].message == "build cancelled"
    _nothing_left(tuidock_root, before)


def test_backend_build_cancel_between_steps(tmp_path: Path, image: str, tuidock_root: Path) -> None:
    import threading

    from tuidock.backends.base import BuildSpec
    from tuidock.errors import TuidockError

    ctx = write(tmp_path, {"Dockerfile": f"FROM {image}\nENV A=1\nCOPY Dockerfile /\nCMD x\n"})
    before = _ids("-a")
    cancel = threading.Event()

    def on_line(line: str) -> None:
        if line.startswith("Step 3/4"):
            cancel.set()

    with pytest.raises(TuidockError, match="build cancelled"):
        _backend_build(BuildSpec(str(ctx), tags=("never:1",)), on_line, cancel)
    # The ENV step finished (kept as cache, as docker keeps it); nothing after it.
    after = _ids("-a")
    assert len(after) == len(before) + 1
    assert tuidock("images", "-q", "never").out.strip() == ""
    _nothing_left(tuidock_root, after)
    ok = _backend_build(BuildSpec(str(ctx), tags=("done:1",)), lambda _: None, threading.Event())
    assert ok.tags == ("docker.io/library/done:1",)
    assert ok.image_id in _ids()
