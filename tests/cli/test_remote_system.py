"""network, volume, version, info, system df/prune and events on a Docker and a
Podman engine (tests/rig/engines.py), each compared with what the docker CLI
prints for the same engine. Every test runs on both engines."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from clihelp import assert_clean_error, tuidock
from dockeroracle import daemon_error, docker, lines, name


def _section(text: str, title: str = "Server:") -> list[str]:
    out = lines(text)
    return out[next(i for i, line in enumerate(out) if line.startswith(title)) :]


# -- networks ------------------------------------------------------------------------------


def test_network_create_ls_inspect_rm(engine):
    net = name("tdknet")
    res = tuidock(
        "-H", engine.host, "network", "create", "--subnet", "10.231.7.0/24",
        "--gateway", "10.231.7.254", "--internal", "--label", "tdk.test=yes", net,
    )  # fmt: skip
    assert res.code == 0, res.err
    net_id = res.out.strip()
    try:
        assert len(net_id) == 64
        for extra in ([], ["-q"], ["--no-trunc"], ["--format", "{{json .}}"]):
            ours = tuidock("-H", engine.host, "network", "ls", "--filter", f"name={net}", *extra)
            assert ours.code == 0, ours.err
            theirs = docker(engine, "network", "ls", "--filter", f"name={net}", *extra)
            got, want = lines(ours.out), lines(theirs.stdout)
            if extra[:1] == ["--format"]:
                # Go prints CreatedAt to the nanosecond; the API's text may round it.
                got, want = [json.loads(x) for x in got], [json.loads(x) for x in want]
                for row in got + want:
                    row["CreatedAt"] = row["CreatedAt"][:19]
            assert got == want, extra
        full = lines(tuidock("-H", engine.host, "network", "ls").out)
        assert full[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
        assert full == lines(docker(engine, "network", "ls").stdout)
        ours = json.loads(tuidock("-H", engine.host, "network", "inspect", net).out)
        theirs = json.loads(docker(engine, "network", "inspect", net).stdout)
        assert ours[0]["Id"] == theirs[0]["Id"] == net_id
        assert ours[0]["IPAM"]["Config"] == theirs[0]["IPAM"]["Config"]
        assert ours[0]["IPAM"]["Config"][0]["Gateway"] == "10.231.7.254"
        assert ours[0]["Internal"] is True and ours[0]["Labels"] == {"tdk.test": "yes"}
        missing = name("nosuchnet")
        res = tuidock("-H", engine.host, "network", "inspect", missing)
        assert_clean_error(res)
        assert res.err.splitlines()[0] == "Error: " + daemon_error(
            docker(engine, "network", "inspect", missing, check=False).stderr
        )
    finally:
        res = tuidock("-H", engine.host, "network", "rm", net)
    assert (res.code, res.out) == (0, net + "\n")
    assert net not in docker(engine, "network", "ls").stdout


def test_network_in_use_is_one_line_and_connect_disconnect(engine, registry):
    ref = registry.ref("oci/busybox")
    docker(engine, "pull", "-q", ref)
    net, other, ctr = name("tdkuse"), name("tdkother"), name("tdkctr")
    docker(engine, "network", "create", net)
    docker(engine, "network", "create", other)
    try:
        docker(engine, "run", "-d", "--name", ctr, "--network", net, ref, "sleep", "300")
        res = tuidock("-H", engine.host, "network", "rm", net)
        assert_clean_error(res)
        theirs = docker(engine, "network", "rm", net, check=False)
        assert res.err.splitlines()[0] == "Error: " + daemon_error(theirs.stderr)
        res = tuidock("-H", engine.host, "network", "connect", other, ctr)
        assert res.code == 0, res.err
        nets = docker(engine, "inspect", "-f", "{{json .NetworkSettings.Networks}}", ctr).stdout
        assert other in json.loads(nets)
        res = tuidock("-H", engine.host, "network", "disconnect", other, ctr)
        assert res.code == 0, res.err
        nets = docker(engine, "inspect", "-f", "{{json .NetworkSettings.Networks}}", ctr).stdout
        assert other not in json.loads(nets)
    finally:
        docker(engine, "rm", "-f", ctr, check=False)
        docker(engine, "network", "rm", net, other, check=False)


def test_network_prune_removes_unused(engine):
    net = name("tdkprune")
    docker(engine, "network", "create", net)
    res = tuidock("-H", engine.host, "network", "prune", "-f")
    assert res.code == 0, res.err
    out = res.out.splitlines()
    assert out[0] == "Deleted Networks:" and net in out
    assert net not in docker(engine, "network", "ls").stdout


# -- volumes --------------------------------------------------------------------------------


def test_volume_create_ls_inspect_rm(engine):
    vol = name("tdkvol")
    res = tuidock("-H", engine.host, "volume", "create", "--label", "tdk.test=v", vol)
    assert (res.code, res.out) == (0, vol + "\n"), res.err
    try:
        for extra in (
            [],
            ["-q"],
            ["--format", "{{json .}}"],
            ["--format", "{{.Name}} {{.Labels}}"],
        ):
            args = ["volume", "ls", "--filter", f"name={vol}", *extra]
            ours = tuidock("-H", engine.host, *args)
            assert ours.code == 0, ours.err
            assert lines(ours.out) == lines(docker(engine, *args).stdout), extra
        args = ["volume", "ls", "--filter", "label=tdk.test=v"]
        assert lines(tuidock("-H", engine.host, *args).out) == lines(docker(engine, *args).stdout)
        ours = tuidock("-H", engine.host, "volume", "inspect", "-f", "{{.Name}} {{.Driver}}", vol)
        assert (
            ours.out
            == docker(engine, "volume", "inspect", "-f", "{{.Name}} {{.Driver}}", vol).stdout
        )
        missing = name("nosuchvol")
        res = tuidock("-H", engine.host, "volume", "inspect", missing)
        assert_clean_error(res)
        res = tuidock("-H", engine.host, "volume", "rm", missing)
        assert_clean_error(res)
        theirs = docker(engine, "volume", "rm", missing, check=False)
        assert res.err.splitlines()[0] == "Error: " + daemon_error(theirs.stderr)
        res = tuidock("-H", engine.host, "volume", "rm", "-f", missing)
        assert (res.code, res.out) == (0, missing + "\n"), res.err
    finally:
        res = tuidock("-H", engine.host, "volume", "rm", vol)
    assert (res.code, res.out) == (0, vol + "\n"), res.err


def test_volume_prune(engine):
    vol = name("tdkvp")
    docker(engine, "volume", "create", vol)
    try:
        res = tuidock("-H", engine.host, "volume", "prune", "-f", "--all")
        api = docker(engine, "version", "-f", "{{.Server.APIVersion}}").stdout.strip()
        if tuple(map(int, api.split("."))) < (1, 42):
            # These engines speak API 1.41: a plain prune takes named volumes too,
            # and -a is refused, as the docker CLI refuses it.
            assert_clean_error(res)
            assert "requires API version 1.42" in res.err
            res = tuidock("-H", engine.host, "volume", "prune", "-f")
        assert res.code == 0, res.err
        out = res.out.splitlines()
        assert out[0] == "Deleted Volumes:" and vol in out
        assert out[-1].startswith("Total reclaimed space: ")
    finally:
        docker(engine, "volume", "rm", "-f", vol, check=False)


# -- version, info, df, prune --------------------------------------------------------------


def test_version_server_section_matches_docker(engine):
    ours = tuidock("-H", engine.host, "version")
    assert ours.code == 0, ours.err
    assert _section(ours.out) == _section(docker(engine, "version").stdout)
    client = _section(ours.out, "Client:")
    from tuidock import __version__

    assert client[1].split() == ["Version:", __version__]
    assert client[1].index(__version__) == 20  # docker's tabwriter column
    fmt = "{{.Server.Version}} {{.Server.ApiVersion}}"
    theirs = docker(engine, "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}")
    assert tuidock("-H", engine.host, "version", "--format", fmt).out == theirs.stdout


def _info_lines(text: str) -> list[str]:
    out = []
    for line in _section(text):
        if line.startswith(" ID:"):
            continue  # Podman makes a new ID per answer
        if line.startswith(" Runtimes:"):
            line = " ".join(sorted(line.split()))  # a Go map's order in docker's
        out.append(line)
    return sorted(out)  # Podman's driver status pairs come in a Go map's order too


def test_info_server_section_matches_docker(engine):
    ours = tuidock("-H", engine.host, "info")
    assert ours.code == 0, ours.err
    assert _info_lines(ours.out) == _info_lines(docker(engine, "info").stdout)
    fmt = "{{.ServerVersion}} {{.OSType}}"
    assert (
        tuidock("-H", engine.host, "info", "-f", fmt).out
        == docker(engine, "info", "-f", fmt).stdout
    )


def test_system_df_matches_docker(engine):
    for extra in ([], ["--format", "{{json .}}"]):
        ours = tuidock("-H", engine.host, "system", "df", *extra)
        assert ours.code == 0, ours.err
        got, want = lines(ours.out), lines(docker(engine, "system", "df", *extra).stdout)
        if extra:  # Go writes a map's keys sorted; compare the objects
            got, want = [json.loads(x) for x in got], [json.loads(x) for x in want]
        assert got == want, extra


def test_system_prune_reports_what_it_removed(engine):
    vol, net = name("tdksp"), name("tdksp")
    docker(engine, "volume", "create", vol)
    docker(engine, "network", "create", net)
    try:
        res = tuidock("-H", engine.host, "system", "prune")  # no terminal: -f is required
        assert_clean_error(res)
        assert net in docker(engine, "network", "ls").stdout
        res = tuidock("-H", engine.host, "system", "prune", "-f", "--volumes")
        assert res.code == 0, res.err
        out = res.out.splitlines()
        assert "Deleted Networks:" in out and net in out
        assert "Deleted Volumes:" in out and vol in out
        assert out[-1].startswith("Total reclaimed space: ")
    finally:
        docker(engine, "volume", "rm", "-f", vol, check=False)
        docker(engine, "network", "rm", net, check=False)


# -- events ----------------------------------------------------------------------------------


def test_events_lines_match_docker(engine):
    vol = name("tdkev")
    until = str(int(time.time()) + 6)
    # Podman's compat events match no volume= filter (its volume events carry the
    # name as an attribute only): the type filter, and the lines of this volume.
    args = ["events", "--until", until, "--filter", "type=volume"]
    fmt = "{{.Type}} {{.Action}}"
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for argv in (
            [sys.executable, "-m", "tuidock", "-H", engine.host, *args],
            ["docker", "-H", engine.host, *args],
            [sys.executable, "-m", "tuidock", "-H", engine.host, *args, "--format", fmt],
        )
    ]
    try:
        time.sleep(2)  # the streams open
        docker(engine, "volume", "create", vol)
        docker(engine, "volume", "rm", vol)
        results = [proc.communicate(timeout=30) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    (ours, _), (theirs, _), (formatted, _) = results
    got = [line for line in lines(ours) if vol in line]
    assert got == [line for line in lines(theirs) if vol in line]
    assert any(" volume create " in line for line in got), ours
    assert "volume create" in formatted.splitlines()

    res = tuidock("-H", engine.host, "events", "--filter", "nosuch=1")
    assert_clean_error(res)
