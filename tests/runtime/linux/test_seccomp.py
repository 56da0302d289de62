"""Seccomp: the BPF compiler checked instruction by instruction (a small
interpreter runs the compiled program on (arch, nr, args) tables), real
filters loaded in forked children, Docker's JSON profile format and its
refusals, and real containers: Seccomp: 2 for run and exec, denied system
calls, --cap-add SYS_ADMIN, unconfined, --privileged, no-new-privileges,
custom profiles, inspect and info."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import struct
from pathlib import Path

import pytest
from clihelp import assert_clean_error, tuidock
from containerhelp import image_fixture, inspect, no_leftovers_fixture

from tuidock.errors import UsageError
from tuidock.runtime.container import securityopt
from tuidock.runtime.linux.capabilities import DEFAULT_CAPS, cap_name
from tuidock.runtime.linux.seccomp import compiler, load
from tuidock.runtime.linux.seccomp.defaultprofile import default_profile
from tuidock.runtime.linux.seccomp.profile import (
    RET_ALLOW,
    RET_ERRNO,
    RET_KILL_PROCESS,
    ProfileError,
    parse,
)

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name

X86_64, I386, AARCH64 = (compiler.AUDIT_ARCH[a] for a in ("x86_64", "i386", "aarch64"))
ALLOW = RET_ALLOW
EPERM = RET_ERRNO | errno.EPERM
ENOSYS = RET_ERRNO | errno.ENOSYS
KILL = RET_KILL_PROCESS
DEFAULT_CAP_NAMES = {cap_name(c) for c in DEFAULT_CAPS}
NEWNS = 0x20000
SIGCHLD = 17


# -- a classic BPF interpreter, for the programs the compiler emits ------------------------


def run_bpf(program: bytes, arch: int, nr: int, args: tuple[int, ...] = ()) -> tuple[int, int]:
    """(return value, instructions executed) of `program` on this seccomp_data."""
    full = (tuple(args) + (0,) * 6)[:6]
    data = struct.pack("<II Q 6Q", nr & 0xFFFFFFFF, arch, 0x1234, *full)
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    pc, acc, steps = 0, 0, 0
    while True:
        code, jt, jf, k = insns[pc]  # IndexError: fell off the end (the kernel refuses that)
        steps += 1
        pc += 1
        if code == 0x20:  # ld [k]
            assert k % 4 == 0 and k + 4 <= len(data), k
            (acc,) = struct.unpack_from("<I", data, k)
        elif code == 0x54:  # and #k
            acc &= k
        elif code == 0x05:  # ja
            pc += k
        elif code in (0x15, 0x25, 0x35):  # jeq, jgt, jge
            hit = {0x15: acc == k, 0x25: acc > k, 0x35: acc >= k}[code]
            pc += jt if hit else jf
        elif code == 0x06:  # ret #k
            return k, steps
        else:
            raise AssertionError(f"unexpected opcode {code:#x} at {pc - 1}")


def verdict(program: bytes, arch: int, nr: int, *args: int) -> int:
    return run_bpf(program, arch, nr, args)[0]


@pytest.fixture(scope="module", name="x86")
def x86_fixture() -> bytes:
    return compiler.compile_filter(default_profile(), DEFAULT_CAP_NAMES, "x86_64", "6.1.0")


def nr(name: str, arch: str = "x86_64") -> int:
    return compiler.syscall_table(arch)[name]


# -- the compiler, against the default profile ---------------------------------------------


def test_default_profile_table(x86: bytes) -> None:
    cases = [
        # (arch, system call, args, expected)
        (X86_64, "read", (), ALLOW),
        (X86_64, "execve", (), ALLOW),
        (X86_64, "mount", (), EPERM),
        (X86_64, "umount2", (), EPERM),
        (X86_64, "unshare", (NEWNS,), EPERM),
        (X86_64, "setns", (), EPERM),
        (X86_64, "kexec_load", (), EPERM),
        (X86_64, "ptrace", (), ALLOW),  # kernel >= 4.8
        (X86_64, "chroot", (), ALLOW),  # CAP_SYS_CHROOT is a default capability
        (X86_64, "reboot", (), EPERM),
        (X86_64, "clone", (SIGCHLD,), ALLOW),
        (X86_64, "clone", (SIGCHLD | NEWNS,), EPERM),
        (X86_64, "clone", (0x10000000,), EPERM),  # CLONE_NEWUSER
        (X86_64, "clone", ((1 << 32) | SIGCHLD,), ALLOW),  # masked: high bits do not matter
        (X86_64, "clone3", (), ENOSYS),
        (X86_64, "personality", (0,), ALLOW),
        (X86_64, "personality", (8,), ALLOW),
        (X86_64, "personality", (0xFFFFFFFF,), ALLOW),
        (X86_64, "personality", (0x0040000,), EPERM),  # READ_IMPLIES_EXEC
        (X86_64, "personality", ((1 << 32),), EPERM),  # the high half is compared too
        (X86_64, "socket", (2,), ALLOW),  # AF_INET
        (X86_64, "socket", (37,), ALLOW),
        (X86_64, "socket", (38,), EPERM),  # AF_ALG
        (X86_64, "socket", (39,), ALLOW),
        (X86_64, "socket", (40,), EPERM),  # AF_VSOCK
        (X86_64, "socket", (41,), ALLOW),
        (X86_64, "socket", ((1 << 32) | 2,), ALLOW),  # > 40 as a 64-bit value
        (X86_64, "arch_prctl", (), ALLOW),
        (X86_64, "modify_ldt", (), ALLOW),
        # The i386 compat ABI on x86_64: its own numbers.
        (I386, "read", (), ALLOW),
        (I386, "socketcall", (), ALLOW),
        (I386, "mount", (), EPERM),
        (I386, "clone", (SIGCHLD | NEWNS,), EPERM),
        (I386, "clone", (SIGCHLD,), ALLOW),
        (I386, "personality", (0xFFFFFFFF,), ALLOW),
    ]
    for arch, name, args, want in cases:
        table = "i386" if arch == I386 else "x86_64"
        got = verdict(x86, arch, nr(name, table), *args)
        assert got == want, f"{name}{args} on {table}: {got:#x}, want {want:#x}"


def test_unknown_numbers_architectures_and_x32(x86: bytes) -> None:
    highest = max(compiler.syscall_table("x86_64").values())
    assert verdict(x86, X86_64, highest + 1) == ENOSYS  # newer than the profile
    assert verdict(x86, X86_64, 0x3FFFFFFF) == ENOSYS
    assert verdict(x86, X86_64, 400) == EPERM  # a hole below the highest known number
    assert verdict(x86, X86_64, 0x40000000 | nr("read")) == KILL  # x32
    assert verdict(x86, X86_64, 0xFFFFFFFF) == EPERM  # -1: a skipped call, not x32
    assert verdict(x86, AARCH64, 63) == KILL  # foreign architecture
    assert verdict(x86, 0x40000028, 3) == KILL  # AUDIT_ARCH_ARM


def test_capabilities_and_kernel_change_the_filter() -> None:
    admin = compiler.compile_filter(
        default_profile(), DEFAULT_CAP_NAMES | {"CAP_SYS_ADMIN"}, "x86_64", "6.1.0"
    )
    assert verdict(admin, X86_64, nr("mount")) == ALLOW
    assert verdict(admin, X86_64, nr("unshare"), NEWNS) == ALLOW
    assert verdict(admin, X86_64, nr("clone"), SIGCHLD | NEWNS) == ALLOW
    assert verdict(admin, X86_64, nr("clone3")) == ALLOW
    assert verdict(admin, X86_64, nr("reboot")) == EPERM
    no_chroot = compiler.compile_filter(
        default_profile(), DEFAULT_CAP_NAMES - {"CAP_SYS_CHROOT"}, "x86_64", "6.1.0"
    )
    assert verdict(no_chroot, X86_64, nr("chroot")) == EPERM
    old = compiler.compile_filter(default_profile(), DEFAULT_CAP_NAMES, "x86_64", "4.4.0-1")
    assert verdict(old, X86_64, nr("ptrace")) == EPERM
    ptracer = compiler.compile_filter(default_profile(), {"CAP_SYS_PTRACE"}, "x86_64", "4.4.0-1")
    assert verdict(ptracer, X86_64, nr("ptrace")) == ALLOW


def test_aarch64_filter() -> None:
    prog = compiler.compile_filter(default_profile(), DEFAULT_CAP_NAMES, "aarch64", "6.1.0")
    assert verdict(prog, AARCH64, nr("mkdirat", "aarch64")) == ALLOW
    assert verdict(prog, AARCH64, nr("mount", "aarch64")) == EPERM
    assert verdict(prog, AARCH64, nr("clone", "aarch64"), SIGCHLD) == ALLOW
    assert verdict(prog, AARCH64, nr("clone", "aarch64"), SIGCHLD | NEWNS) == EPERM
    assert verdict(prog, AARCH64, 0x40000000) == ENOSYS  # no x32 rule on arm64
    assert verdict(prog, X86_64, 0) == KILL
    assert verdict(prog, I386, 3) == KILL  # no i386 ABI on an arm64 kernel


def reference(profile, caps: set[str], arch: str, number: int, args: tuple[int, ...]) -> int:
    """What the profile means, evaluated directly (not through the compiler's tables)."""
    table = compiler.syscall_table(arch)
    names = {n for n, v in table.items() if v == number}
    highest = max((table[n] for r in profile.rules for n in r.names if n in table), default=-1)
    if number > highest and profile.default_ret != RET_ALLOW:
        return ENOSYS
    width = 0xFFFFFFFF if arch == "i386" else (1 << 64) - 1
    rules = [r for r in profile.rules if names & set(r.names) and r.applies(caps, "amd64", (6, 1))]
    for r in rules:
        if not r.args:
            return r.ret
    for r in rules:
        if all(_holds(a, args[a.index] & width, width) for a in r.args):
            return r.ret
    return profile.default_ret


def _holds(a, value: int, width: int) -> bool:
    v, v2 = a.value & width, a.value_two & width
    return {
        "SCMP_CMP_EQ": value == v,
        "SCMP_CMP_NE": value != v,
        "SCMP_CMP_LT": value < v,
        "SCMP_CMP_LE": value <= v,
        "SCMP_CMP_GT": value > v,
        "SCMP_CMP_GE": value >= v,
        "SCMP_CMP_MASKED_EQ": value & v == v2,
    }[a.op]


ARG_SAMPLES = [(0,) * 6, (SIGCHLD, 1, 2, 3, 4, 5), (NEWNS | SIGCHLD,) * 6, (39,) * 6, (40,) * 6]


def test_every_syscall_matches_the_profile(x86: bytes) -> None:
    profile = default_profile()
    worst = 0
    for arch, audit in (("x86_64", X86_64), ("i386", I386)):
        for number in range(0, 470):
            for args in ARG_SAMPLES:
                got, steps = run_bpf(x86, audit, number, args)
                want = reference(profile, DEFAULT_CAP_NAMES, arch, number, args)
                assert got == want, f"{arch} nr {number} args {args}: {got:#x} != {want:#x}"
                worst = max(worst, steps)
    # A binary search, not a chain of ~350 comparisons.
    assert worst < 40, worst


CUSTOM = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EDQUOT},
        {"names": ["getpriority"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"name": "sethostname", "action": "SCMP_ACT_ERRNO"},  # the pre-1.13 spelling
        {
            "names": ["fchmod"],
            "action": "SCMP_ACT_ERRNO",
            "args": [
                {"index": 1, "value": 0o700, "op": "SCMP_CMP_GT"},
                {"index": 1, "value": 0o4777, "op": "SCMP_CMP_LE"},
            ],
        },
        {
            "names": ["lseek"],
            "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 2, "value": 1 << 33, "op": "SCMP_CMP_NE"}],
        },
        {
            "names": ["dup3"],
            "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": (1 << 32) + 5, "op": "SCMP_CMP_LT"}],
        },
        {
            "names": ["fcntl"],
            "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 1, "value": 0xF0, "valueTwo": 0x10, "op": "SCMP_CMP_MASKED_EQ"}],
        },
        {
            "names": ["pipe2"],
            "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 1, "value": 7, "op": "SCMP_CMP_GE"}],
        },
    ],
}
EDQUOT = RET_ERRNO | errno.EDQUOT


def test_custom_profile_operators() -> None:
    profile = parse(json.loads(json.dumps(CUSTOM)))
    prog = compiler.compile_filter(profile, set(), "x86_64", "6.1.0")
    checks = [
        ("mkdir", (), EDQUOT),
        ("mkdirat", (), EDQUOT),
        ("getpriority", (), KILL),
        ("sethostname", (), EPERM),
        ("fchmod", (3, 0o700), ALLOW),
        ("fchmod", (3, 0o701), EPERM),
        ("fchmod", (3, 0o4777), EPERM),
        ("fchmod", (3, 0o5000), ALLOW),
        ("lseek", (3, 0, 1 << 33), ALLOW),
        ("lseek", (3, 0, (1 << 33) + 1), EPERM),
        ("lseek", (3, 0, 0), EPERM),
        ("dup3", ((1 << 32) + 4,), EPERM),
        ("dup3", ((1 << 32) + 5,), ALLOW),
        ("dup3", (1 << 33,), ALLOW),
        ("dup3", (7,), EPERM),
        ("fcntl", (3, 0x13), EPERM),
        ("fcntl", (3, 0x23), ALLOW),
        ("fcntl", (3, (1 << 40) | 0x10), EPERM),
        ("pipe2", (0, 6), ALLOW),
        ("pipe2", (0, 7), EPERM),
        ("pipe2", (0, 1 << 32), EPERM),
        ("read", (), ALLOW),
    ]
    for name, args, want in checks:
        got = verdict(prog, X86_64, nr(name), *args)
        assert got == want, f"{name}{args}: {got:#x}, want {want:#x}"
    # Default ALLOW: no ENOSYS for unknown numbers, and any number above is allowed.
    assert verdict(prog, X86_64, 1000) == ALLOW
    assert verdict(prog, X86_64, 0x40000000) == KILL


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be a JSON object"),
        ({}, "defaultAction is missing"),
        ({"defaultAction": "SCMP_ACT_MAYBE"}, "unknown action"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}, "syscalls must be a list"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}, "names"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"]}]}, "action is"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]}, "architecture"),
        ({"defaultAction": "SCMP_ACT_NOTIFY"}, "NOTIFY"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": "x"}, "integer"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}, "flags"),
        (
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_ALLOW",
                        "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
                    }
                ],
            },
            "out of range",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_ALLOW",
                        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}],
                    }
                ],
            },
            "unknown comparison op",
        ),
    ],
)
def test_bad_profiles_are_refused(doc: object, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse(doc, "p.json")
    text = info.value.message
    assert message in text and "\n" not in text, text


def test_security_options() -> None:
    assert securityopt.parse([]).seccomp == "builtin"
    assert securityopt.parse(["seccomp=builtin"]).stored == ["seccomp=builtin"]
    old = securityopt.parse(["seccomp:unconfined", "no-new-privileges:true"])
    assert old.seccomp == "unconfined" and old.no_new_privs
    priv = securityopt.parse(["no-new-privileges"], privileged=True)
    assert priv.seccomp == "unconfined" and priv.no_new_privs
    assert priv.stored == ["no-new-privileges"]
    assert not securityopt.parse(["no-new-privileges=false"]).no_new_privs
    for bad in ("seccomp=", "nonsense", "label=disable", "no-new-privileges=1"):
        with pytest.raises(UsageError):
            securityopt.parse([bad])


# -- real filters, loaded in forked children ------------------------------------------------


def in_child(program: bytes, probe) -> int:
    """Load `program` in a forked child, run `probe()` there; its exit code."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            load.install(program)
            code = probe()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _errno_of(call) -> int:
    try:
        call()
    except OSError as e:
        return e.errno or 0
    return 0


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 numbers in the probe")
def test_filters_loaded_for_real(tmp_path: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)

    def raw(number: int, *args: int) -> int:
        if libc.syscall(number, *args) == -1:
            return ctypes.get_errno()
        return 0

    default = compiler.compile_filter(default_profile(), DEFAULT_CAP_NAMES)

    def probe_default() -> int:
        assert raw(nr("unshare"), NEWNS) == errno.EPERM
        assert raw(nr("clone3"), 0, 0) == errno.ENOSYS
        assert _errno_of(lambda: os.mkdir(tmp_path / "d")) == 0
        status = Path("/proc/self/status").read_text()
        assert "Seccomp:\t2" in status and "NoNewPrivs:\t0" in status  # we had CAP_SYS_ADMIN
        child = os.fork()  # clone without namespace flags passes
        if child == 0:
            os._exit(7)
        assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 7
        return 0

    assert in_child(default, probe_default) == 0
    custom = compiler.compile_filter(parse(CUSTOM), set())

    def probe_custom() -> int:
        assert _errno_of(lambda: os.mkdir(tmp_path / "e")) == errno.EDQUOT
        os.getpriority(os.PRIO_PROCESS, 0)  # killed here
        return 0

    assert in_child(custom, probe_custom) == -signal.SIGSYS  # SECCOMP_RET_KILL_PROCESS
    assert not (tmp_path / "e").exists()


# -- real containers -------------------------------------------------------------------------


def status_of(res) -> dict[str, str]:
    assert res.code == 0, res.err
    out = {}
    for line in res.out.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def run(image: str, *flags: str, cmd: tuple[str, ...] = ("cat", "/proc/self/status")):
    return tuidock("run", "--rm", "--network", "none", *flags, image, *cmd)


def test_container_runs_confined(image: str) -> None:
    st = status_of(run(image))
    assert st["Seccomp"] == "2" and st["Seccomp_filters"] == "1"
    assert st["NoNewPrivs"] == "0"  # as Docker: only no-new-privileges sets it
    # A user namespace needs no capability: only the filter refuses it.
    res = run(image, cmd=("unshare", "-U", "true"))
    assert res.code != 0 and "Operation not permitted" in res.err, (res.code, res.err)
    res = run(image, "--security-opt", "seccomp=unconfined", cmd=("unshare", "-U", "true"))
    assert res.code == 0, res.err


def test_cap_add_sys_admin_opens_mount_and_unshare(image: str) -> None:
    script = "mkdir -p /m && mount -t tmpfs none /m && unshare -m -U true && echo ok"
    res = run(image, cmd=("sh", "-c", script))
    assert res.code != 0 and "permission denied" in res.err, res.err
    res = run(image, "--cap-add", "SYS_ADMIN", cmd=("sh", "-c", script))
    assert res.code == 0 and res.out.strip() == "ok", res.err


def test_unconfined_and_privileged(image: str) -> None:
    assert status_of(run(image, "--security-opt", "seccomp=unconfined"))["Seccomp"] == "0"
    assert status_of(run(image, "--privileged"))["Seccomp"] == "0"
    cid = tuidock("create", "--security-opt", "seccomp=unconfined", image, "true").out.strip()
    assert inspect(cid)["HostConfig"]["SecurityOpt"] == ["seccomp=unconfined"]
    assert (
        inspect(tuidock("create", image, "true").out.strip())["HostConfig"]["SecurityOpt"] is None
    )


def test_exec_is_confined_as_the_container(image: str) -> None:
    name = "seccomp-exec"
    res = tuidock("run", "-d", "--name", name, "--network", "none", image, "sleep", "300")
    assert res.code == 0, res.err
    st = status_of(tuidock("exec", name, "cat", "/proc/self/status"))
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "0"
    # --privileged gives the exec every capability, but not a way out of the filter.
    res = tuidock("exec", "--privileged", name, "unshare", "-U", "true")
    assert res.code != 0 and "Operation not permitted" in res.err, res.err
    res = tuidock("exec", name, "unshare", "-U", "true")
    assert res.code != 0, res.err


def test_no_new_privileges(image: str) -> None:
    st = status_of(run(image, "--security-opt", "no-new-privileges"))
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2"
    st = status_of(run(image, "--security-opt", "no-new-privileges=false"))
    assert st["NoNewPrivs"] == "0"
    opts = ("--security-opt", "no-new-privileges=true", "--security-opt", "seccomp=unconfined")
    st = status_of(run(image, *opts, "-u", "1000"))
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "0"
    name = "seccomp-nnp"
    res = tuidock(
        "run", "-d", "--name", name, "--security-opt", "no-new-privileges", image, "sleep", "300"
    )
    assert res.code == 0, res.err
    st = status_of(tuidock("exec", "-u", "1000", name, "cat", "/proc/self/status"))
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2"


def test_custom_profile(image: str, tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(CUSTOM, indent=2))
    res = run(image, "--security-opt", f"seccomp={path}", cmd=("mkdir", "/x"))
    assert res.code != 0 and "Disk quota exceeded" in res.err, res.err
    res = run(image, "--security-opt", f"seccomp={path}", cmd=("sh", "-c", "echo fine"))
    assert res.code == 0 and res.out.strip() == "fine", res.err
    cid = tuidock("create", "--security-opt", f"seccomp={path}", image, "true").out.strip()
    stored = inspect(cid)["HostConfig"]["SecurityOpt"]
    assert stored == ["seccomp=" + json.dumps(CUSTOM, separators=(",", ":"))]


def test_bad_security_options_leave_nothing(image: str, tmp_path: Path, tuidock_root: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read"}]}')
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    for option, words in (
        (f"seccomp={bad}", "names must be"),
        (f"seccomp={broken}", "decoding failed"),
        (f"seccomp={tmp_path / 'missing.json'}", "no such file"),
        ("seccomp", "invalid --security-opt"),
        ("no-new-privileges=maybe", "invalid --security-opt"),
        ("apparmor=docker-default", "not supported"),
    ):
        res = tuidock("run", "--rm", "--security-opt", option, image, "true")
        assert_clean_error(res)
        assert words in res.err, res.err
    # Checked before the image is looked for (nothing answers on port 9).
    res = tuidock("run", "--security-opt", f"seccomp={bad}", "127.0.0.1:9/none:latest", "true")
    assert_clean_error(res)
    assert "names must be" in res.err, res.err
    assert tuidock("ps", "-aq").out.strip() == ""
    cdir = tuidock_root / "containers"
    assert not cdir.is_dir() or not [p for p in cdir.iterdir() if len(p.name) == 64]


def test_filters_are_compiled_once_per_capability_set(image: str, tuidock_root: Path) -> None:
    ids = [tuidock("create", image, "true").out.strip() for _ in range(2)]
    ids.append(tuidock("create", "--cap-add", "SYS_ADMIN", image, "true").out.strip())
    programs = [(tuidock_root / "containers" / cid / "seccomp.bpf").read_bytes() for cid in ids]
    assert programs[0] == programs[1] != programs[2]
    want = compiler.compile_filter(default_profile(), DEFAULT_CAP_NAMES)
    assert programs[0] == want
    cache = sorted((tuidock_root / "seccomp-cache").iterdir())
    assert len(cache) == 2 and {p.read_bytes() for p in cache} == {programs[0], programs[2]}
    # A damaged cache entry is compiled again, never loaded as is.
    for p in cache:
        p.write_bytes(p.read_bytes()[:-3])
    cid = tuidock("create", image, "true").out.strip()
    assert (tuidock_root / "containers" / cid / "seccomp.bpf").read_bytes() == want


def test_info_reports_seccomp(tuidock_root: Path) -> None:
    res = tuidock("info", "--format", "{{json .SecurityOptions}}")
    assert res.code == 0, res.err
    assert json.loads(res.out) == ["name=seccomp,profile=builtin"]


def test_filter_cache_key_changes_with_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import tuidock
    from tuidock.runtime.container import securityopt

    opts = securityopt.parse([])
    before = securityopt._cache_key(opts, {0})
    assert securityopt._cache_key(opts, {0}) == before
    monkeypatch.setattr(tuidock, "__version__", "0.0.0+other")
    assert securityopt._cache_key(opts, {0}) != before
