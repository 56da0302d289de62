"""`tuidock events`: what real operations record, filters, times, formats, streaming."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from clihelp import assert_clean_error, tuidock, tuidock_popen
from containerhelp import image_fixture, no_leftovers_fixture, wait_for

from tuidock.cli.commands.system_events import format_line, matches, parse_filters
from tuidock.core.timestamps import parse_duration_ns, parse_timestamp_ns
from tuidock.errors import UsageError
from tuidock.runtime.store import events

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def run_ok(*args: str) -> str:
    res = tuidock(*args)
    assert res.code == 0, (res.code, res.out, res.err)
    return res.out


def past_events(*args: str) -> list[dict]:
    """Every event so far (as JSON), through the CLI."""
    out = run_ok("events", "--since", "0", "--until", "0s", "--format", "json", *args)
    return [json.loads(line) for line in out.splitlines()]


def actions(evs: list[dict], type_: str = "container") -> list[str]:
    return [e["Action"] for e in evs if e["Type"] == type_]


def test_container_lifecycle_events_in_order(image: str, tuidock_root: Path) -> None:
    repo = image.rsplit(":", 1)[0]
    (pull,) = [e for e in past_events() if e["Type"] == "image"]
    assert pull["Action"] == "pull" and pull["Actor"]["ID"] == image
    assert pull["Actor"]["Attributes"] == {"name": repo}
    assert pull["status"] == "pull" and pull["id"] == image and "from" not in pull

    cid = run_ok("run", "-d", "--name", "web", "--label", "tier=front", image, "sleep", "60")
    cid = cid.strip()
    run_ok("pause", "web")
    run_ok("unpause", "web")
    run_ok("rename", "web", "web2")
    run_ok("stop", "-t", "1", "web2")
    run_ok("rm", "web2")
    evs = [e for e in past_events() if e["Type"] == "container"]
    assert [e["Action"] for e in evs] == [
        "create",
        "start",
        "pause",
        "unpause",
        "rename",
        "kill",
        "kill",
        "die",
        "stop",
        "destroy",
    ]
    assert {e["Actor"]["ID"] for e in evs} == {cid}
    start = evs[1]
    assert start["status"] == "start" and start["id"] == cid and start["from"] == image
    assert start["Actor"]["Attributes"] == {"image": image, "name": "web", "tier": "front"}
    assert evs[4]["Actor"]["Attributes"]["oldName"] == "web"
    assert evs[4]["Actor"]["Attributes"]["name"] == "web2"
    # sleep is PID 1: SIGTERM has no handler there, so stop kills it after -t 1.
    assert [e["Actor"]["Attributes"]["signal"] for e in evs[5:7]] == ["15", "9"]
    assert evs[7]["Actor"]["Attributes"]["exitCode"] == "137"
    times = [e["timeNano"] for e in evs]
    assert times == sorted(times)
    assert all(e["time"] == e["timeNano"] // 10**9 and e["scope"] == "local" for e in evs)

    # The default line format, as Docker prints it.
    text = run_ok("events", "--since", "0", "--until", "0s", "--filter", "event=start")
    (line,) = text.splitlines()
    assert line.endswith(f" container start {cid} (image={image}, name=web, tier=front)")
    stamp = line.split()[0]
    assert stamp[10] == "T" and stamp[19] == "." and stamp[20:29].isdigit()


def test_run_rm_attach_exec_kill_and_exit_code(image: str) -> None:
    res = tuidock("run", "--rm", "--name", "once", image, "sh", "-c", "exit 3")
    assert res.code == 3
    assert actions(past_events("--filter", "container=once")) == [
        "create",
        "attach",
        "start",
        "die",
        "destroy",
    ]
    die = past_events("--filter", "event=die")[0]
    assert die["Actor"]["Attributes"]["exitCode"] == "3"
    # A start that fails still dies (with the runtime's code), as Docker reports it.
    assert tuidock("run", "--rm", "--name", "nocmd", image, "/nosuch").code == 127
    evs = past_events("--filter", "container=nocmd")
    assert actions(evs) == ["create", "attach", "die", "destroy"]
    assert evs[2]["Actor"]["Attributes"]["exitCode"] == "127"

    cid = run_ok("run", "-d", "--name", "svc", image, "sleep", "60").strip()
    assert run_ok("exec", "svc", "sh", "-c", "exit 0") == ""
    assert tuidock("exec", "svc", "sh", "-c", "exit 5").code == 5
    run_ok("kill", "-s", "HUP", "svc")
    run_ok("rm", "-f", "svc")
    evs = past_events("--filter", f"container={cid[:12]}")
    names = [e["Action"] for e in evs]
    assert names[:2] == ["create", "start"]
    assert names[2:5] == ["exec_create: sh -c exit 0", "exec_start: sh -c exit 0", "exec_die"]
    assert names[5:8] == ["exec_create: sh -c exit 5", "exec_start: sh -c exit 5", "exec_die"]
    assert evs[7]["Actor"]["Attributes"]["exitCode"] == "5"
    exec_ids = {e["Actor"]["Attributes"]["execID"] for e in evs[5:8]}
    assert len(exec_ids) == 1
    # kill -s HUP (a message to the process), then rm -f: kill 9, die, destroy.
    assert names[8:] == ["kill", "kill", "die", "destroy"]
    assert [e["Actor"]["Attributes"].get("signal") for e in evs[8:10]] == ["1", "9"]
    # event=exec_start matches "exec_start: <command>", as Docker's filter does.
    assert len(past_events("--filter", "event=exec_start")) == 2


def test_image_and_volume_events(image: str, tuidock_root: Path) -> None:
    run_ok("tag", image, "mine:1")
    run_ok("volume", "create", "vol1")
    cid = run_ok("run", "-d", "-v", "vol1:/data", image, "true").strip()
    run_ok("wait", cid)
    run_ok("rm", cid)
    run_ok("volume", "rm", "vol1")
    image_id = json.loads(run_ok("image", "inspect", "mine:1"))[0]["Id"]
    run_ok("rmi", "mine:1")
    archive = tuidock_root.parent / "img.tar"
    run_ok("save", "-o", str(archive), image)
    assert actions(past_events(), "image") == ["pull", "tag", "untag", "save"]
    tag, untag = past_events("--filter", "event=tag", "--filter", "event=untag")
    assert tag["Actor"] == {"ID": image_id, "Attributes": {"name": "mine:1"}}
    assert untag["Actor"] == {"ID": image_id, "Attributes": {"name": "mine:1"}}
    vols = past_events("--filter", "type=volume")
    assert [e["Action"] for e in vols] == ["create", "mount", "destroy"]
    assert "status" not in vols[0] and "id" not in vols[0]  # legacy fields: containers, images
    mount = vols[1]["Actor"]
    assert mount["ID"] == "vol1"
    assert mount["Attributes"]["container"] == cid
    assert mount["Attributes"]["destination"] == "/data"
    assert mount["Attributes"]["read/write"] == "true"
    # volume=, image= (name without tag, and the ID), label= filters
    assert len(past_events("--filter", "volume=vol1")) == 3
    image_evs = past_events("--filter", f"image={image.rsplit(':', 1)[0]}")
    assert "pull" in actions(image_evs, "image") and "create" in actions(image_evs)
    by_id = actions(past_events("--filter", f"image={image_id}"), "image")
    assert by_id == ["tag", "untag", "save"]
    assert past_events("--filter", "label=nosuch") == []
    assert past_events("--filter", "label=driver=local") == vols


def test_since_until_and_formats(tuidock_root: Path) -> None:
    run_ok("volume", "create", "va")
    time.sleep(0.05)
    middle = time.time()
    time.sleep(0.05)
    run_ok("volume", "create", "vb")
    names = [e["Actor"]["ID"] for e in past_events()]
    assert names == ["va", "vb"]
    assert [e["Actor"]["ID"] for e in past_events("--since", f"{middle:.6f}")] == ["vb"]
    until = run_ok("events", "--since", "0", "--until", f"{middle:.3f}", "--format", "json")
    assert [json.loads(x)["Actor"]["ID"] for x in until.splitlines()] == ["va"]
    rfc = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(middle - 3600)) + "Z"
    assert len(past_events("--since", rfc)) == 2
    assert len(past_events("--since", "1h")) == 2
    assert past_events("--since", "1h", "--filter", "type=image") == []

    out = run_ok(
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.driver}} {{.ID}}|",
    )
    assert out.splitlines() == ["volume create va local |", "volume create vb local |"]
    assert run_ok("events", "--since", "1m", "--until", "0s", "--format", "{{json .}}") == run_ok(
        "events", "--since", "1m", "--until", "0s", "--format", "json"
    )
    # As Docker, a bound alone (--until) is enough to replay the stored events.
    assert len(run_ok("events", "--until", "0s").splitlines()) == 2

    assert_clean_error(tuidock("events", "--since", "yesterday"))
    assert_clean_error(tuidock("events", "--filter", "colour=red"))
    assert_clean_error(tuidock("events", "--filter", "type=pod"))
    assert_clean_error(tuidock("events", "--filter", "noequals"))
    assert_clean_error(tuidock("events", "--format", "{{.Nope}}"))
    assert_clean_error(tuidock("events", "--format", "table {{.Type}}"))


def test_streaming_events_sees_a_later_start(image: str) -> None:
    proc = tuidock_popen("events", "--filter", "type=container")
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
        reader.start()
        time.sleep(0.5)  # started: what follows is new to it
        cid = run_ok("run", "-d", "--name", "late", image, "sleep", "30").strip()
        wait_for(lambda: any(" container start " in x for x in lines), what="start event")
        assert [x.split()[2] for x in lines[:2]] == ["create", "start"]
        assert all(cid in x for x in lines)
        run_ok("volume", "create", "ignored")  # filtered out: type=container
        run_ok("rm", "-f", "late")
        wait_for(lambda: any(" container destroy " in x for x in lines), what="destroy event")
        assert not any(" volume " in x for x in lines)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(10) == 0, proc.stderr.read()  # type: ignore[union-attr]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_streaming_ends_at_until_and_follows_rotation(
    tuidock_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    until = time.time() + 2.0
    proc = tuidock_popen("events", "--until", f"{until:.3f}", "--format", "json")
    try:
        time.sleep(0.5)
        # Rotate under the reader: a small limit, in this process's own writes.
        monkeypatch.setattr(events, "MAX_BYTES", 600)
        for i in range(6):
            events.record(tuidock_root, "volume", "create", f"v{i}", {"driver": "local"})
            time.sleep(0.03)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert [json.loads(x)["Actor"]["ID"] for x in out.splitlines()] == [f"v{i}" for i in range(6)]
    assert (tuidock_root / "events.log.1").exists()
    # Only one old file is kept; whatever is in the two files reads back in order.
    for i in range(6, 12):
        events.record(tuidock_root, "volume", "create", f"v{i}", {"driver": "local"})
    kept = [e["Actor"]["ID"] for e in past_events()]
    assert kept and kept == sorted(kept, key=lambda n: int(n[1:]))
    assert kept[-1] == "v11"
    assert not list(tuidock_root.glob("events.log.2*"))


def test_concurrent_writers_never_interleave(tuidock_root: Path) -> None:
    script = (
        "import sys\nfrom tuidock.runtime.store import events\n"
        "for i in range(300):\n"
        "    events.record(sys.argv[1], 'container', 'start', sys.argv[2] * 64,"
        " {'pad': 'x' * 300})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tuidock_root), c]) for c in "abcd"]
    for p in procs:
        assert p.wait(60) == 0
    lines = (tuidock_root / "events.log").read_bytes().splitlines()
    assert len(lines) == 1200
    assert all(json.loads(line)["Actor"]["Attributes"]["pad"] == "x" * 300 for line in lines)


def test_a_failing_log_never_fails_the_operation(tuidock_root: Path) -> None:
    (tuidock_root / "events.log").mkdir()  # not a file: every append fails
    assert run_ok("volume", "create", "still").strip() == "still"
    assert (tuidock_root / "volumes" / "still").is_dir()
    run_ok("volume", "rm", "still")


# -- units: time parsing, filters, line format -----------------------------------------------------


def test_time_and_duration_parsing() -> None:
    now = 1_800_000_000 * 10**9
    assert parse_duration_ns("10m") == 600 * 10**9
    assert parse_duration_ns("1h30m") == 5400 * 10**9
    assert parse_duration_ns("1.5s") == 1_500_000_000
    assert parse_duration_ns("10") is None and parse_duration_ns("m") is None
    assert parse_timestamp_ns("10m", now) == now - 600 * 10**9
    assert parse_timestamp_ns("1700000000", now) == 1_700_000_000 * 10**9
    assert parse_timestamp_ns("1700000000.5", now) == 1_700_000_000_500_000_000
    assert parse_timestamp_ns("2023-11-14T22:13:20Z", now) == 1_700_000_000 * 10**9
    assert parse_timestamp_ns("2023-11-14T22:13:20.123456789Z", now) == 1_700_000_000_123_456_789
    assert parse_timestamp_ns("2023-11-15T00:13:20+02:00", now) == 1_700_000_000 * 10**9
    with pytest.raises(UsageError):
        parse_timestamp_ns("soon", now)


def test_filter_semantics() -> None:
    ev = events.make_event("container", "start", "abc123", {"name": "web", "image": "busybox:1"})
    assert matches(ev, parse_filters(["container=abc"]))  # ID prefix
    assert matches(ev, parse_filters(["container=web"]))
    assert matches(ev, parse_filters(["container=zzz", "container=web"]))  # same key: OR
    assert not matches(ev, parse_filters(["container=web", "event=stop"]))  # keys: AND
    assert matches(ev, parse_filters(["image=busybox"]))  # the name without its tag
    assert matches(ev, parse_filters(["image=busybox:1"]))
    assert not matches(ev, parse_filters(["image=busy"]))  # images match exactly
    assert matches(ev, parse_filters(["type=container", "event=start"]))
    assert not matches(ev, parse_filters(["type=image"]))
    assert matches(ev, parse_filters(["label=name=web", "label=image"]))
    assert not matches(ev, parse_filters(["label=name=web", "label=tier"]))  # labels: all hold


def test_line_format_sorts_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    ev = events.make_event("network", "connect", "n1", {"name": "net", "container": "c1"}, 5)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert format_line(ev) == (
            "1970-01-01T00:00:00.000000005Z network connect n1 (container=c1, name=net)"
        )
        monkeypatch.setenv("TZ", "EST5")
        time.tzset()
        assert format_line(ev).startswith("1969-12-31T19:00:00.000000005-05:00 network")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_network_create_and_destroy_events(tuidock_root: Path) -> None:
    # Config only: no bridge exists until a container joins the network. (--subnet: without
    # one, the first network of a root hits a NameError in usernets.create, not ours.)
    run_ok("network", "create", "--subnet", "10.89.77.0/24", "evnet")
    run_ok("network", "rm", "evnet")
    evs = past_events("--filter", "network=evnet")
    assert [e["Action"] for e in evs] == ["create", "destroy"]
    assert evs[0]["Actor"]["Attributes"] == {"name": "evnet", "type": "bridge"}
    assert len(evs[0]["Actor"]["ID"]) == 64 and evs[0]["Actor"]["ID"] == evs[1]["Actor"]["ID"]
    assert past_events("--filter", "network=other") == []


def test_commit_export_copy_import_load_events(image: str, tuidock_root: Path) -> None:
    work = tuidock_root.parent
    cid = run_ok("create", "--name", "src", image, "true").strip()
    (work / "in.txt").write_text("hi\n")
    run_ok("cp", str(work / "in.txt"), "src:/in.txt")
    run_ok("cp", "src:/in.txt", str(work / "out.txt"))
    run_ok("export", "-o", str(work / "fs.tar"), "src")
    committed = run_ok("commit", "src", "snap:1").strip()
    imported = run_ok("import", str(work / "fs.tar"), "flat:1").strip()
    run_ok("save", "-o", str(work / "snap.tar"), "snap:1")
    run_ok("rm", "src")
    run_ok("rmi", "snap:1")
    run_ok("load", "-i", str(work / "snap.tar"))
    evs = past_events("--filter", "container=src")
    assert [e["Action"] for e in evs] == [
        "create",
        "extract-to-dir",
        "archive-path",
        "export",
        "commit",
        "destroy",
    ]
    assert evs[4]["Actor"]["Attributes"]["imageID"] == committed
    assert evs[4]["Actor"]["Attributes"]["imageRef"].endswith("snap:1")
    assert {e["Actor"]["ID"] for e in evs} == {cid}
    images = [(e["Action"], e["Actor"]["ID"]) for e in past_events("--filter", "type=image")]
    assert images[1:] == [
        ("import", imported),
        ("save", committed),
        ("untag", committed),
        ("delete", committed),
        ("load", committed),
    ]
