"""Compile a seccomp Profile to a classic BPF program, in pure Python.

The program, for the capabilities and host of one container:

1. Load seccomp_data.arch; jump to the block of each architecture the
   filter serves (x86_64 and its i386 compat ABI, or aarch64); any other
   architecture is killed. On x86_64, x32 system calls (nr with bit 30
   set) are killed too: we hold no x32 table, and x32 is how a filter
   written for x86_64 numbers gets bypassed.
2. Per architecture, a binary search over the system call number: the
   numbers 0..2^32-1 fall into runs with the same outcome, and a tree of
   `jge` splits finds the run in ~log2(runs) steps (no linear chain).
3. A run's outcome is a return value, or a block that checks arguments
   (64-bit comparisons as two 32-bit halves) rule by rule.

Numbers above the highest one the profile names on that architecture
return ENOSYS instead of the default action, as runc does since 1.0:
a system call newer than the profile is then "not implemented" and libc
falls back to an older one (clone3 -> clone, faccessat2 -> faccessat)
instead of failing with EPERM.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Iterable

from tuidock.errors import TuidockError
from tuidock.runtime.linux.seccomp.profile import (
    MASKED_EQ,
    NATIVE,
    RET_ALLOW,
    RET_ERRNO,
    RET_KILL_PROCESS,
    RET_LOG,
    Arg,
    Profile,
    kernel_version,
)
from tuidock.runtime.linux.seccomp.syscallnums import TABLES

AUDIT_ARCH = {"x86_64": 0xC000003E, "i386": 0x40000003, "aarch64": 0xC00000B7}
ARCH_BITS = {"x86_64": 64, "i386": 32, "aarch64": 64}
X32_SYSCALL_BIT = 0x40000000
MAX_INSNS = 4096  # BPF_MAXINSNS

# Classic BPF opcodes (linux/filter.h)
LD_ABS_W = 0x20
ALU_AND_K = 0x54
JA = 0x05
JEQ = 0x15
JGT = 0x25
JGE = 0x35
RET_K = 0x06

# struct seccomp_data offsets
OFF_NR = 0
OFF_ARCH = 4
OFF_ARGS = 16

_tables: dict[str, dict[str, int]] = {}


def syscall_table(arch: str) -> dict[str, int]:
    """name -> number on `arch` ("x86_64", "i386", "aarch64")."""
    table = _tables.get(arch)
    if table is None:
        parts = TABLES[arch].split()
        table = _tables[arch] = dict(zip(parts[::2], map(int, parts[1::2]), strict=True))
    return table


# -- what each system call gets ----------------------------------------------------

Case = tuple[tuple[Arg, ...], int]  # conditions (all must hold) -> return value


class Decision:
    """What one system call number gets: cases in order, then `fallback`."""

    def __init__(self, fallback: int) -> None:
        self.cases: list[Case] = []
        self.fallback = fallback

    def key(self) -> tuple:
        return (tuple(self.cases), self.fallback)


def decisions(
    profile: Profile, caps: set[str], machine: str, release: str, arch: str
) -> tuple[dict[int, Decision], int]:
    """Per system call number of `arch`, its Decision; and the highest number named."""
    _, host_arch = NATIVE[machine]
    kernel = kernel_version(release)
    table = syscall_table(arch)
    out: dict[int, Decision] = {}
    highest = -1
    for rule in profile.rules:
        numbers = [table[n] for n in rule.names if n in table]
        if numbers:
            highest = max(highest, *numbers)
        if not rule.applies(caps, host_arch, kernel):
            continue
        for nr in numbers:
            d = out.setdefault(nr, Decision(profile.default_ret))
            if not rule.args:
                # An unconditional rule decides alone (as in libseccomp): the
                # first one wins; conditional ones before it cannot matter.
                if not any(not a for a, _ in d.cases):
                    d.cases = [((), rule.ret)]
            elif not any(not a for a, _ in d.cases):
                d.cases.append((_width(rule.args, arch), rule.ret))
    for d in out.values():
        if d.cases and not d.cases[0][0]:
            d.fallback, d.cases = d.cases[0][1], []
    return out, highest


def _width(args: tuple[Arg, ...], arch: str) -> tuple[Arg, ...]:
    """A 32-bit ABI passes 32-bit arguments: compare the low halves only."""
    if ARCH_BITS[arch] == 64:
        return args
    m = 0xFFFFFFFF
    return tuple(Arg(a.index, a.op, a.value & m, a.value_two & m) for a in args)


# -- code generation ----------------------------------------------------------------


class _Asm:
    """Instructions with symbolic forward jump targets, resolved at the end."""

    def __init__(self) -> None:
        self.code: list[list] = []  # [opcode, jt, jf, k]; jt/jf/k may be labels
        self.labels: dict[str, int] = {}
        self._n = 0

    def label(self) -> str:
        self._n += 1
        return f"L{self._n}"

    def place(self, label: str) -> None:
        self.labels[label] = len(self.code)

    def emit(self, op: int, k: int | str = 0, jt: int | str = 0, jf: int | str = 0) -> None:
        self.code.append([op, jt, jf, k])

    def ret(self, value: int) -> None:
        self.emit(RET_K, value)

    def assemble(self) -> bytes:
        out = bytearray()
        for pos, (op, jt, jf, k) in enumerate(self.code):
            if op == JA:
                k = self._offset(pos, k, 1 << 32)
            else:
                jt = self._offset(pos, jt, 256)
                jf = self._offset(pos, jf, 256)
            out += struct.pack("=HBBI", op, jt, jf, k)
        return bytes(out)

    def _offset(self, pos: int, target: int | str, limit: int) -> int:
        if isinstance(target, int):
            return target
        off = self.labels[target] - pos - 1
        if not 0 <= off < limit:
            raise TuidockError(f"seccomp filter: jump of {off} instructions out of range")
        return off


def compile_filter(
    profile: Profile,
    caps: Iterable[str],
    machine: str | None = None,
    release: str | None = None,
) -> bytes:
    """The BPF program (struct sock_filter[]) for a container with `caps`
    ("CAP_SYS_ADMIN"...) on this host (or `machine`/`release` of uname)."""
    uname = os.uname()
    machine = machine or uname.machine
    release = release or uname.release
    if machine not in NATIVE:
        raise TuidockError(
            f"seccomp filters are not supported on {machine}",
            "Run with --security-opt seccomp=unconfined.",
        )
    cap_names = set(caps)
    arches = profile.filter_arches(machine)
    asm = _Asm()
    kill = asm.label()
    asm.emit(LD_ABS_W, OFF_ARCH)
    blocks = []
    for arch in arches:
        blocks.append((arch, asm.label()))
        asm.emit(JEQ, AUDIT_ARCH[arch], jt=0, jf=1)
        asm.emit(JA, blocks[-1][1])
    asm.place(kill)
    asm.ret(RET_KILL_PROCESS)
    for arch, label in blocks:
        asm.place(label)
        _arch_block(asm, profile, cap_names, machine, release, arch)
    program = asm.assemble()
    if len(program) // 8 > MAX_INSNS:
        raise TuidockError(
            f"seccomp profile too large: {len(program) // 8} BPF instructions (at most 4096)"
        )
    return program


def _arch_block(
    asm: _Asm, profile: Profile, caps: set[str], machine: str, release: str, arch: str
) -> None:
    table, highest = decisions(profile, caps, machine, release, arch)
    default = profile.default_ret
    enosys = default not in (RET_ALLOW, RET_LOG) and highest >= 0
    asm.emit(LD_ABS_W, OFF_NR)
    if arch == "x86_64":
        tree = asm.label()
        asm.emit(JGE, X32_SYSCALL_BIT, jt=0, jf=tree)
        # nr -1 is what a tracer leaves when it skips a call: not x32.
        asm.emit(JEQ, 0xFFFFFFFF, jt=0, jf=1)
        asm.ret(default)
        asm.ret(RET_KILL_PROCESS)
        asm.place(tree)
    # Runs of numbers with the same outcome: (first number, outcome key).
    leaves: dict[tuple, Decision] = {}
    runs: list[tuple[int, tuple]] = []
    top = highest if enosys else max(table, default=0)

    def add(first: int, key: tuple) -> None:
        if not runs or runs[-1][1] != key:
            runs.append((first, key))

    plain = Decision(default)
    leaves[plain.key()] = plain
    for nr in range(top + 1):
        d = table.get(nr, plain)
        leaves.setdefault(d.key(), d)
        add(nr, d.key())
    if enosys:
        beyond = Decision(RET_ERRNO | errno.ENOSYS)
        leaves.setdefault(beyond.key(), beyond)
        add(top + 1, beyond.key())
    else:
        add(top + 1, plain.key())
    blocks: dict[tuple, str] = {}
    _tree(asm, runs, leaves, blocks)
    for key, label in blocks.items():
        asm.place(label)
        _cases(asm, leaves[key])


def _tree(
    asm: _Asm, runs: list[tuple[int, tuple]], leaves: dict[tuple, Decision], blocks: dict
) -> None:
    """Binary search over `runs` (the accumulator holds nr); each leaf returns
    or jumps to its argument-checking block."""
    if len(runs) == 1:
        d = leaves[runs[0][1]]
        if not d.cases:
            asm.ret(d.fallback)
        else:
            label = blocks.setdefault(runs[0][1], asm.label())
            asm.emit(JA, label)
        return
    mid = len(runs) // 2
    right = asm.label()
    asm.emit(JGE, runs[mid][0], jt=0, jf=1)
    asm.emit(JA, right)
    _tree(asm, runs[:mid], leaves, blocks)
    asm.place(right)
    _tree(asm, runs[mid:], leaves, blocks)


def _cases(asm: _Asm, d: Decision) -> None:
    for args, ret in d.cases:
        fail = asm.label()
        for arg in args:
            _condition(asm, arg, fail)
        asm.ret(ret)
        asm.place(fail)
    asm.ret(d.fallback)


def _condition(asm: _Asm, arg: Arg, fail: str) -> None:
    """Fall through when `arg` holds, else jump to `fail`."""
    lo_off = OFF_ARGS + 8 * arg.index
    hi_off = lo_off + 4  # little-endian: x86_64, i386, aarch64
    lo, hi = arg.value & 0xFFFFFFFF, arg.value >> 32
    ok = asm.label()
    if arg.op == MASKED_EQ:
        for off, mask, want in (
            (hi_off, hi, arg.value_two >> 32),
            (lo_off, lo, arg.value_two & 0xFFFFFFFF),
        ):
            asm.emit(LD_ABS_W, off)
            asm.emit(ALU_AND_K, mask)
            asm.emit(JEQ, want, jt=0, jf=fail)
        return
    asm.emit(LD_ABS_W, hi_off)
    op = arg.op
    if op == "SCMP_CMP_EQ":
        asm.emit(JEQ, hi, jt=0, jf=fail)
        asm.emit(LD_ABS_W, lo_off)
        asm.emit(JEQ, lo, jt=0, jf=fail)
    elif op == "SCMP_CMP_NE":
        asm.emit(JEQ, hi, jt=0, jf=ok)
        asm.emit(LD_ABS_W, lo_off)
        asm.emit(JEQ, lo, jt=fail, jf=0)
    elif op in ("SCMP_CMP_GT", "SCMP_CMP_GE"):
        asm.emit(JGT, hi, jt=ok, jf=0)
        asm.emit(JEQ, hi, jt=0, jf=fail)
        asm.emit(LD_ABS_W, lo_off)
        asm.emit(JGT if op == "SCMP_CMP_GT" else JGE, lo, jt=0, jf=fail)
    else:  # LT, LE: the negation of GE, GT
        asm.emit(JGT, hi, jt=fail, jf=0)
        asm.emit(JEQ, hi, jt=0, jf=ok)
        asm.emit(LD_ABS_W, lo_off)
        asm.emit(JGE if op == "SCMP_CMP_LT" else JGT, lo, jt=fail, jf=0)
    asm.place(ok)
