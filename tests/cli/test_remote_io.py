"""logs, attach, cp, export and exec on Docker and Podman, against `docker -H`."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import time

from clihelp import assert_clean_error, run_in_pty, tuidock
from remotehelp import container, docker


def _exited(engine, name: str) -> None:
    deadline = time.monotonic() + 30
    while (
        docker(engine.host, "inspect", "-f", "{{.State.Running}}", name).stdout.strip() != b"false"
    ):
        assert time.monotonic() < deadline, "the container did not end"
        time.sleep(0.2)


def test_logs_split_streams_as_docker(engine, registry):
    script = "echo out1; echo err1 >&2; echo out2; echo err2 >&2"
    with container(engine, registry, "sh", "-c", script) as name:
        _exited(engine, name)
        mine = tuidock("-H", engine.host, "logs", name)
        theirs = docker(engine.host, "logs", name)
        assert mine.code == 0, mine.err
        assert (mine.out, mine.err) == ("out1\nout2\n", "err1\nerr2\n")
        assert (mine.out, mine.err) == (theirs.stdout.decode(), theirs.stderr.decode())
        tail = tuidock("-H", engine.host, "logs", "--tail", "1", name)
        assert tail.out + tail.err in ("out2\n", "err2\n")
        stamped = tuidock("-H", engine.host, "logs", "-t", name).out.splitlines()
        assert [line.split(" ", 1)[1] for line in stamped] == ["out1", "out2"]
        assert stamped[0][:4].isdigit() and "T" in stamped[0].split(" ")[0]
        assert tuidock("-H", engine.host, "logs", "--until", "2000-01-01T00:00:00Z", name).out == ""
        assert_clean_error(tuidock("-H", engine.host, "logs", "--tail", "x", name))
        assert_clean_error(tuidock("-H", engine.host, "logs", "--since", "yesterday", name))
    assert_clean_error(tuidock("-H", engine.host, "logs", "tdk-no-such"))


def test_logs_follow_ends_with_the_container(engine, registry):
    with container(engine, registry, "sh", "-c", "echo first; sleep 2; echo last") as name:
        res = tuidock("-H", engine.host, "logs", "-f", name, timeout=60)
        assert res.code == 0, res.err
        assert res.out == "first\nlast\n"


def test_cp_both_ways_and_tar_streams(engine, registry, tmp_path):
    with container(engine, registry) as name:
        src = tmp_path / "in.txt"
        src.write_text("hello\n")
        assert tuidock("-H", engine.host, "cp", str(src), f"{name}:/tmp/").code == 0
        assert docker(engine.host, "exec", name, "cat", "/tmp/in.txt").stdout == b"hello\n"
        res = tuidock("-H", engine.host, "cp", str(src), f"{name}:/tmp/renamed")
        assert res.code == 0, res.err
        assert docker(engine.host, "exec", name, "cat", "/tmp/renamed").stdout == b"hello\n"
        out = tmp_path / "out"
        out.mkdir()
        res = tuidock("-H", engine.host, "cp", f"{name}:/etc", str(out))
        assert res.code == 0, res.err
        assert (out / "etc" / "passwd").is_file()
        res = tuidock("-H", engine.host, "cp", f"{name}:/tmp/in.txt", str(out / "back.txt"))
        assert res.code == 0, res.err
        assert (out / "back.txt").read_text() == "hello\n"
        tar = subprocess.run(
            [sys.executable, "-m", "tuidock", "-H", engine.host, "cp", f"{name}:/tmp/in.txt", "-"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as t:
            assert t.getnames() == ["in.txt"]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            info = tarfile.TarInfo("streamed")
            info.size = 3
            t.addfile(info, io.BytesIO(b"abc"))
        res = subprocess.run(
            [sys.executable, "-m", "tuidock", "-H", engine.host, "cp", "-", f"{name}:/tmp"],
            input=buf.getvalue(), capture_output=True, timeout=60,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert docker(engine.host, "exec", name, "cat", "/tmp/streamed").stdout == b"abc"
        assert_clean_error(tuidock("-H", engine.host, "cp", f"{name}:/no/such", str(out)))
        assert_clean_error(tuidock("-H", engine.host, "cp", str(tmp_path / "none"), f"{name}:/"))
        assert_clean_error(tuidock("-H", engine.host, "cp", "a", "b"))


def test_export_to_a_file(engine, registry, tmp_path):
    with container(engine, registry, start=False) as name:
        dest = tmp_path / "fs.tar"
        res = tuidock("-H", engine.host, "export", "-o", str(dest), name)
        assert res.code == 0, res.err
        with tarfile.open(dest) as t:
            assert "bin/busybox" in t.getnames()
        assert_clean_error(tuidock("-H", engine.host, "export", "-o", str(dest), "tdk-no-such"))


def test_exec_exit_codes_env_and_stdin(engine, registry, tmp_path):
    with container(engine, registry) as name:
        h = engine.host
        res = tuidock("-H", h, "exec", name, "sh", "-c", "echo $A-$B; echo e >&2; exit 3")
        assert (res.code, res.out, res.err) == (3, "-\n", "e\n")
        envf = tmp_path / "env"
        envf.write_text("# c\nB=2\n")
        res = tuidock("-H", h, "exec", "-e", "A=1", "--env-file", str(envf), "-w", "/tmp",
                      "-u", "65534", name, "sh", "-c", "echo $A$B $(pwd) $(id -u)")  # fmt: skip
        assert (res.code, res.out) == (0, "12 /tmp 65534\n"), res.err
        res = tuidock("-H", h, "exec", "-i", name, "cat", input="piped\n")
        assert (res.code, res.out) == (0, "piped\n"), res.err
        # The engine's code, whatever it is (Docker 126 for both, as its CLI shows).
        for argv in (["no-such-command"], ["/etc/passwd"]):
            res = tuidock("-H", h, "exec", name, *argv)
            theirs = docker(h, "exec", name, *argv)
            assert res.code == theirs.returncode, (res, theirs)
            assert res.code in (126, 127)
            assert "Traceback" not in res.err
        assert tuidock("-H", h, "exec", "-d", name, "touch", "/tmp/d").code == 0
        time.sleep(0.5)
        assert docker(h, "exec", name, "ls", "/tmp/d").returncode == 0
        missing = tuidock("-H", h, "exec", "tdk-no-such", "true")
        assert missing.code == 125
        assert_clean_error(missing)
        bad = tuidock("-H", h, "exec", "--bogus", name, "true")
        assert bad.code == 125
        assert_clean_error(bad)
        assert tuidock("-H", h, "exec", name).code == 125
    with container(engine, registry, start=False) as stopped:
        res = tuidock("-H", h, "exec", stopped, "true")
        assert res.code == 125 and "is not running" in res.err
        assert_clean_error(res)


def test_exec_it_in_a_pty_with_its_size(engine, registry):
    with container(engine, registry) as name:
        argv = [sys.executable, "-m", "tuidock", "-H", engine.host, "exec", "-it", name,
                "sh", "-c", "sleep 0.5; stty size; tty; exit 3"]  # fmt: skip
        code, out = run_in_pty(argv, (33, 101))
        assert b"33 101" in out, out
        assert b"/dev/pts/" in out, out
        assert code == 3


def test_attach_relays_output_and_returns_the_exit_code(engine, registry):
    with container(engine, registry, "sh", "-c", "sleep 3; echo hi; echo oops >&2; exit 4") as name:
        res = tuidock("-H", engine.host, "attach", "--no-stdin", name, timeout=60)
        assert (res.code, res.out, res.err) == (4, "hi\n", "oops\n")
        _exited(engine, name)
        assert_clean_error(tuidock("-H", engine.host, "attach", name))
