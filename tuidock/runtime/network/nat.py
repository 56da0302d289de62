"""Outbound NAT: containers reach what the host can reach, with the host's address.

Rules live in one nftables table of our own, `table ip tuidock`, and nowhere
else (podman's netavark and iptables-nft own `ip nat` and `ip filter`; those are
never touched). Per live tuidock bridge it holds, as Docker's rules do:

    postrouting (nat, srcnat):  ip saddr SUBNET oifname != BRIDGE masquerade
    forward (filter):           iifname BRIDGE accept
                                oifname BRIDGE ct state established,related accept

Why the `nft` binary and not pyroute2.nftables or iptables: pyroute2's nftables
module has no rule builder for masquerade or ct expressions (one would hand-write
netlink expression lists that differ between kernel versions), while `nft -f -`
takes the whole table as one script and applies it as one kernel transaction:
the table is replaced atomically, never half-written. iptables would put our
rules into shared chains (Docker's style) which another tool may flush or reorder.
The cost is one exec of nft when a bridge appears or goes, not per container:
~30 ms each way on this loaded 2-core machine (an idle `nft list tables` takes
~6 ms), paid by `run --rm` only when its container is the bridge's only one.

State is machine-wide, as the bridges are (several data roots may share a host):
/run/tuidock/nat/<bridge> holds each live bridge's subnet, written under the
host-wide flock /run/lock/tuidock-nat.lock. Every change rebuilds the table from
the records whose bridge still exists, so a record left by a killed process
(its bridge gone) is dropped at the next change, and the table is deleted with
the last bridge: an idle host carries no rule of ours. links.py calls
bridge_up() after creating a bridge and bridge_down() after deleting one,
including from endpoint.reconcile() after a monitor died by SIGKILL.

Host-wide settings: forwarding needs net.ipv4.ip_forward=1. If it is 0 when the
first bridge comes up, it is set to 1 and /run/tuidock/ip_forward-set records
that; when the last bridge goes it is set back to 0 (unless someone set it to
something else meanwhile). `tuidock info` shows both, and warns when another
table's forward hook has a drop policy (e.g. Docker's): in nftables a packet
dropped by any base chain is dropped, so our accept rules cannot help then.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path

from tuidock.errors import TuidockError
from tuidock.runtime.linux.locking import file_lock

TABLE = "tuidock"
STATE_DIR = Path("/run/tuidock")
RECORDS = STATE_DIR / "nat"
FORWARD_MARK = STATE_DIR / "ip_forward-set"
LOCK = Path("/run/lock/tuidock-nat.lock")
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


class NatError(TuidockError):
    pass


def _nft() -> str | None:
    return shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if os.access(p, os.X_OK)), None
    )


def _run_nft(nft: str, *args: str, script: str | None = None) -> str:
    res = subprocess.run([nft, *args], input=script, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        first = (res.stderr.strip().splitlines() or [f"exit code {res.returncode}"])[0]
        raise NatError(f"nft failed: {first}", "Is nf_tables available (modprobe nf_tables)?")
    return res.stdout


def _live_records() -> dict[str, str]:
    """bridge -> subnet for every record whose bridge exists; stale records go."""
    out = {}
    try:
        names = sorted(os.listdir(RECORDS))
    except FileNotFoundError:
        return {}
    for name in names:
        path = RECORDS / name
        if not os.path.exists(f"/sys/class/net/{name}"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        try:
            out[name] = str(ipaddress.IPv4Network(path.read_text().strip()))
        except (OSError, ValueError):
            continue
    return out


def ruleset(bridges: dict[str, str]) -> str:
    """The whole `table ip tuidock` for `bridges` (bridge -> subnet) as an nft script;
    it first empties any previous version, all in one transaction."""
    lines = [f"table ip {TABLE}", f"delete table ip {TABLE}"]
    if not bridges:
        return "\n".join(lines) + "\n"
    nat, fwd = [], []
    for bridge, subnet in sorted(bridges.items()):
        tag = f'comment "tuidock {bridge}"'
        nat.append(f'    ip saddr {subnet} oifname != "{bridge}" masquerade {tag}')
        fwd.append(f'    iifname "{bridge}" accept {tag}')
        fwd.append(f'    oifname "{bridge}" ct state established,related accept {tag}')
    lines += [
        f"table ip {TABLE} {{",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        *nat,
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        *fwd,
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _apply(nft: str, bridges: dict[str, str]) -> None:
    _run_nft(nft, "-f", "-", script=ruleset(bridges))


def _read_forward() -> str:
    try:
        return IP_FORWARD.read_text().strip()
    except OSError:
        return ""


def _ensure_forwarding() -> None:
    if _read_forward() != "0":
        return
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    FORWARD_MARK.write_text("0\n")  # first: a crash right after still restores
    IP_FORWARD.write_text("1\n")


def _restore_forwarding() -> None:
    if not FORWARD_MARK.exists():
        return
    if _read_forward() == "1":  # still what we set: give the host its 0 back
        IP_FORWARD.write_text("0\n")
    FORWARD_MARK.unlink()


def bridge_up(bridge: str, subnet: str) -> None:
    """After `bridge` was created: masquerade its subnet, enable forwarding.

    Without nft, containers still run, with no way out (reported by `info`)."""
    nft = _nft()
    if nft is None:
        return
    with file_lock(LOCK):
        RECORDS.mkdir(parents=True, exist_ok=True)
        record = RECORDS / bridge
        record.write_text(f"{subnet}\n")
        try:
            bridges = _live_records()
            _apply(nft, bridges)
            _ensure_forwarding()
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                record.unlink()
            _settle(nft)
            raise


def bridge_down(bridge: str) -> None:
    """After `bridge` was deleted: its rules go; with the last one, the table and
    any ip_forward change of ours."""
    nft = _nft()
    if nft is None or not (RECORDS / bridge).exists():
        return
    with file_lock(LOCK):
        with contextlib.suppress(FileNotFoundError):
            (RECORDS / bridge).unlink()
        _settle(nft)


def _settle(nft: str) -> None:
    """Make the table and ip_forward match the live records (under LOCK)."""
    bridges = _live_records()
    _apply(nft, bridges)
    if not bridges:
        _restore_forwarding()
        for d in (RECORDS, STATE_DIR):
            with contextlib.suppress(OSError):
                d.rmdir()


# -- for `tuidock info` ------------------------------------------------------------------


def host_settings() -> dict:
    """What tuidock changed or depends on host-wide, for `tuidock info`."""
    nft = _nft()
    doc: dict = {
        "IPForward": _read_forward() == "1",
        "IPForwardSetByTuidock": FORWARD_MARK.exists(),
        "NATBridges": sorted(_records_quick()),
        "Firewall": f"nftables (table ip {TABLE})" if nft else "none (nft not found: no NAT)",
        "ForwardDropChains": [],
    }
    if nft:
        with contextlib.suppress(NatError, ValueError):
            doc["ForwardDropChains"] = _forward_drop_chains(nft)
    return doc


def _records_quick() -> list[str]:
    try:
        return os.listdir(RECORDS)
    except FileNotFoundError:
        return []


def _forward_drop_chains(nft: str) -> list[str]:
    """ "family table chain" of base chains on the forward hook with a drop policy."""
    out = []
    for item in json.loads(_run_nft(nft, "-j", "list", "chains")).get("nftables", []):
        chain = item.get("chain")
        if chain and chain.get("hook") == "forward" and chain.get("policy") == "drop":
            out.append(f"{chain['family']} {chain['table']} {chain['name']}")
    return out


def info_lines(doc: dict) -> list[str]:
    """The `Network:` section of `tuidock info`."""
    fwd = "enabled" if doc["IPForward"] else "disabled (containers cannot reach out)"
    if doc["IPForwardSetByTuidock"]:
        fwd += " - set by tuidock, set back to 0 when its last bridge goes"
    lines = [
        "Network:",
        f" Firewall: {doc['Firewall']}",
        f" IPv4 Forwarding: {fwd}",
        f" NAT Bridges: {', '.join(doc['NATBridges']) or 'none'}",
    ]
    for chain in doc["ForwardDropChains"]:
        lines.append(
            f" WARNING: forward chain '{chain}' has policy drop: containers cannot reach out"
        )
    return lines
