"""ps, inspect, top, stats, diff and port on Docker and Podman, against `docker -H`."""

from __future__ import annotations

import json
import time

from clihelp import assert_clean_error, tuidock
from remotehelp import container, docker, normalised

from tuidock.cli.remote.container_views import displayable_ports


def test_ps_matches_docker_ps(engine, registry):
    with container(engine, registry) as up, container(engine, registry, "true") as done:
        deadline = time.monotonic() + 20
        while "Exited" not in docker(engine.host, "ps", "-a", "-f", f"name={done}").stdout.decode():
            assert time.monotonic() < deadline
            time.sleep(0.2)
        for flags in (["-a"], ["-a", "--no-trunc"], []):
            for name in (up, done):
                mine = tuidock("-H", engine.host, "ps", *flags, "--filter", f"name={name}")
                theirs = docker(engine.host, "ps", *flags, "--filter", f"name={name}")
                assert mine.code == 0, mine.err
                assert normalised(mine.out) == normalised(theirs.stdout.decode()), flags
        rows = normalised(tuidock("-H", engine.host, "ps", "-a", "-f", f"name={done}").out)
        assert rows[0] == [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ]
        assert rows[1][4].startswith("Exited (0) ")
        ids = tuidock("-H", engine.host, "ps", "-q", "--filter", f"name={up}").out.split()
        assert (
            ids == docker(engine.host, "ps", "-q", "--filter", f"name={up}").stdout.decode().split()
        )
        fmt = "{{.Names}}|{{.State}}|{{.Command}}"
        mine = tuidock("-H", engine.host, "ps", "-a", "--format", fmt, "-f", f"name={done}")
        assert (
            mine.out
            == docker(
                engine.host, "ps", "-a", "--format", fmt, "-f", f"name={done}"
            ).stdout.decode()
        )
        row = json.loads(
            tuidock("-H", engine.host, "ps", "--format", "{{json .}}", "-f", f"name={up}").out
        )
        assert row["Names"] == up and row["State"] == "running"
        table = tuidock(
            "-H", engine.host, "ps", "--format", "table {{.Names}}\t{{.Image}}", "-f", f"name={up}"
        )
        assert normalised(table.out) == [["NAMES", "IMAGE"], [up, registry.ref("oci/busybox")]]
        latest = tuidock("-H", engine.host, "ps", "-l", "-q")
        assert latest.out.split() == docker(engine.host, "ps", "-l", "-q").stdout.decode().split()


def test_ps_bad_input_is_a_clean_error(engine):
    for args in (["--filter", "bogus=1"], ["--filter", "noequals"], ["--format", "{{.Nope}}"]):
        res = tuidock("-H", engine.host, "ps", *args)
        assert_clean_error(res)


def test_inspect_is_the_engines_json(engine, registry):
    with container(engine, registry) as name:
        mine = tuidock("-H", engine.host, "container", "inspect", name)
        assert mine.code == 0, mine.err
        theirs = json.loads(docker(engine.host, "container", "inspect", name).stdout)
        got = json.loads(mine.out)
        assert got[0]["Id"] == theirs[0]["Id"]
        assert sorted(got[0]) == sorted(theirs[0])
        res = tuidock("-H", engine.host, "container", "inspect", "-f", "{{.State.Status}}", name)
        assert res.out == "running\n"
        missing = tuidock("-H", engine.host, "container", "inspect", name, "tdk-no-such")
        assert missing.code == 1
        assert missing.err == "Error: No such container: tdk-no-such\n"
        assert json.loads(missing.out)[0]["Id"] == theirs[0]["Id"]


def test_top_diff_and_port(engine, registry):
    with container(engine, registry, "sh", "-c", "touch /made; sleep 300") as name:
        time.sleep(1)
        top = normalised(tuidock("-H", engine.host, "top", name).out)
        assert top[0] == normalised(docker(engine.host, "top", name).stdout.decode())[0]
        assert any("sleep 300" in " ".join(r) for r in top[1:]), top
        diff = tuidock("-H", engine.host, "diff", name)
        assert diff.code == 0, diff.err
        assert "A /made" in diff.out.splitlines()
        assert sorted(diff.out.splitlines()) == sorted(
            docker(engine.host, "diff", name).stdout.decode().splitlines()
        )
        port = tuidock("-H", engine.host, "port", name)
        assert (port.code, port.out) == (0, "")
        res = tuidock("-H", engine.host, "port", name, "80")
        assert_clean_error(res)
        assert "No public port '80' published for" in res.err
    assert_clean_error(tuidock("-H", engine.host, "top", "tdk-no-such"))


def test_stats_no_stream(engine, registry):
    with container(engine, registry) as name:
        res = tuidock("-H", engine.host, "stats", "--no-stream", name)
        assert res.code == 0, res.err
        theirs = docker(engine.host, "stats", "--no-stream", name).stdout.decode()
        mine_rows, their_rows = normalised(res.out), normalised(theirs)
        assert mine_rows[0] == their_rows[0]
        assert mine_rows[1][0] == their_rows[1][0]
        # The docker CLI cuts the first character of Podman's names here (it expects
        # Docker's "/name"): the name itself is the right cell.
        assert mine_rows[1][1] == name
        assert mine_rows[1][2].endswith("%") and mine_rows[1][4].endswith("%")
        assert mine_rows[1][-1] == their_rows[1][-1]  # PIDS
        named = tuidock(
            "-H", engine.host, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", name
        )
        assert named.out == f"{name} 1\n"
    assert_clean_error(tuidock("-H", engine.host, "stats", "--no-stream", "tdk-no-such"))


def test_displayable_ports_as_the_docker_cli():
    ports = [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"PrivatePort": 53, "Type": "udp"},
        {"IP": "0.0.0.0", "PrivatePort": 9000, "PublicPort": 9000, "Type": "tcp"},
        {"IP": "0.0.0.0", "PrivatePort": 9001, "PublicPort": 9001, "Type": "tcp"},
    ]
    assert displayable_ports(ports) == (
        "53/udp, 0.0.0.0:9000-9001->9000-9001/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
    )


def test_ps_command_quoting_matches_docker_outside_ascii(engine, registry):
    # A tab, a zero-width space (unprintable to Go), an accented letter and an emoji
    # (printable): Go's strconv.Quote keeps the last two and escapes the others.
    with container(engine, registry, "echo", "a\tb\u200bé😀", start=False) as name:
        for flags in (["--no-trunc"], []):
            fmt = ["--format", "{{.Command}}", "-a", "-f", f"name={name}"]
            mine = tuidock("-H", engine.host, "ps", *flags, *fmt)
            theirs = docker(engine.host, "ps", *flags, *fmt).stdout.decode()
            assert mine.code == 0, mine.err
            assert mine.out == theirs, flags
