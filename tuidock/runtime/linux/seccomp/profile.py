"""A seccomp profile: what each system call gets, and Docker's JSON format.

A Profile is a default action plus rules in order. A rule names system
calls, the action they get, optional argument conditions (all must hold)
and the conditions under which the rule exists at all: capabilities the
container must have (includes) or must not have (excludes), the host
architecture, a minimum kernel. `parse_json` reads Docker's profile format
(defaultAction, defaultErrnoRet, architectures/archMap, syscalls[...]) and
refuses anything it cannot honour with a one-line error.
"""

from __future__ import annotations

import errno as errno_mod
import json
from dataclasses import dataclass

from tuidock.errors import UsageError

# seccomp(2) return values
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
RET_DATA = 0x0000FFFF

# Docker's action names -> return value without its data part. NOTIFY needs
# a listener process, which a daemonless engine has nobody to run.
_ACTIONS = {
    "SCMP_ACT_ALLOW": RET_ALLOW,
    "SCMP_ACT_ERRNO": RET_ERRNO,
    "SCMP_ACT_KILL": RET_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": RET_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": RET_KILL_PROCESS,
    "SCMP_ACT_TRAP": RET_TRAP,
    "SCMP_ACT_TRACE": RET_TRACE,
    "SCMP_ACT_LOG": RET_LOG,
}
OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT")
MASKED_EQ = "SCMP_CMP_MASKED_EQ"

# libseccomp's architecture names -> ours (the syscall tables we hold).
# None: a real architecture whose numbers we do not hold; rules for it are
# not compiled, and its processes meet the bad-architecture action.
SCMP_ARCHES: dict[str, str | None] = {
    "SCMP_ARCH_X86_64": "x86_64",
    "SCMP_ARCH_X86": "i386",
    "SCMP_ARCH_AARCH64": "aarch64",
    "SCMP_ARCH_X32": None,
    "SCMP_ARCH_ARM": None,
    "SCMP_ARCH_MIPS": None,
    "SCMP_ARCH_MIPS64": None,
    "SCMP_ARCH_MIPS64N32": None,
    "SCMP_ARCH_MIPSEL": None,
    "SCMP_ARCH_MIPSEL64": None,
    "SCMP_ARCH_MIPSEL64N32": None,
    "SCMP_ARCH_PPC": None,
    "SCMP_ARCH_PPC64": None,
    "SCMP_ARCH_PPC64LE": None,
    "SCMP_ARCH_S390": None,
    "SCMP_ARCH_S390X": None,
    "SCMP_ARCH_PARISC": None,
    "SCMP_ARCH_PARISC64": None,
    "SCMP_ARCH_RISCV64": None,
    "SCMP_ARCH_LOONGARCH64": None,
}
# uname machine -> libseccomp's native architecture and Docker's (Go) name
# for it, as `includes.arches` spells it.
NATIVE = {
    "x86_64": ("SCMP_ARCH_X86_64", "amd64"),
    "aarch64": ("SCMP_ARCH_AARCH64", "arm64"),
    "arm64": ("SCMP_ARCH_AARCH64", "arm64"),
}


@dataclass(frozen=True)
class Arg:
    """seccomp_data.args[index] <op> value; MASKED_EQ: (arg & value) == value_two."""

    index: int
    op: str
    value: int
    value_two: int = 0


@dataclass(frozen=True)
class Rule:
    names: tuple[str, ...]
    ret: int = RET_ALLOW  # the full seccomp return value (action | data)
    args: tuple[Arg, ...] = ()
    caps: tuple[str, ...] = ()  # included only if the container has all of these
    arches: tuple[str, ...] = ()  # ... only on these hosts (Docker's names: amd64, arm64)
    min_kernel: tuple[int, int] | None = None
    not_caps: tuple[str, ...] = ()  # excluded if the container has any of these
    not_arches: tuple[str, ...] = ()

    def applies(self, caps: set[str], host_arch: str, kernel: tuple[int, int]) -> bool:
        if any(c not in caps for c in self.caps) or any(c in caps for c in self.not_caps):
            return False
        if self.arches and host_arch not in self.arches:
            return False
        if host_arch in self.not_arches:
            return False
        return self.min_kernel is None or kernel >= self.min_kernel


@dataclass(frozen=True)
class Profile:
    default_ret: int
    rules: tuple[Rule, ...]
    # libseccomp architecture names; empty: the host's own only.
    arches: tuple[str, ...] = ()
    arch_map: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def filter_arches(self, machine: str) -> list[str]:
        """Our names of the architectures the filter serves on this host, native first."""
        native, _ = NATIVE[machine]
        listed: list[str] = list(self.arches)
        for arch, subs in self.arch_map:
            if arch == native:
                listed += [arch, *subs]
        out = [SCMP_ARCHES[native] or ""]
        for name in listed:
            ours = SCMP_ARCHES[name]
            # A 32-bit ABI of another CPU family can never reach this kernel.
            if ours and ours not in out and _compatible(machine, ours):
                out.append(ours)
        return out


def _compatible(machine: str, arch: str) -> bool:
    families = {"x86_64": {"x86_64", "i386"}, "aarch64": {"aarch64"}, "arm64": {"aarch64"}}
    return arch in families.get(machine, set())


def kernel_version(release: str) -> tuple[int, int]:
    """(major, minor) of a uname release such as "6.1.0-18-amd64"."""
    parts = release.split("-")[0].split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return (0, 0)


# -- Docker's JSON format ----------------------------------------------------------


class ProfileError(UsageError):
    pass


def _fail(where: str, message: str) -> ProfileError:
    return ProfileError(
        f"invalid seccomp profile {where}: {message}",
        "See Docker's seccomp profile format (defaultAction, syscalls[].names/action/args).",
    )


def load_file(path: str) -> tuple[Profile, str]:
    """The profile in `path` and its JSON text made compact (what Docker stores)."""
    from tuidock.core.userfiles import DOCUMENT_MAX, read_user_text

    try:
        raw = read_user_text(path, "seccomp profile", DOCUMENT_MAX)
    except OSError as e:
        raise UsageError(
            f"opening seccomp profile ({path}) failed: {(e.strerror or str(e)).lower()}",
            "Give the path of a JSON profile, or seccomp=unconfined.",
        ) from None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise _fail(path, f"decoding failed: {e}") from None
    return parse(doc, path), json.dumps(doc, separators=(",", ":"))


def parse(doc: object, where: str = "") -> Profile:
    """A Profile from Docker's JSON document (already decoded)."""
    if not isinstance(doc, dict):
        raise _fail(where, "the profile must be a JSON object")
    if doc.get("listenerPath"):
        raise _fail(where, "listenerPath (SCMP_ACT_NOTIFY) is not supported")
    if doc.get("flags"):
        # SECCOMP_FILTER_FLAG_LOG/SPEC_ALLOW...: refused rather than silently dropped.
        raise _fail(where, f"flags {doc['flags']} are not supported")
    default_errno = _int(doc.get("defaultErrnoRet", errno_mod.EPERM), where, "defaultErrnoRet")
    if "defaultAction" not in doc:
        raise _fail(where, "defaultAction is missing")
    default_ret = _ret(doc["defaultAction"], None, default_errno, where)
    arches = tuple(_arch(a, where) for a in _list(doc.get("architectures"), where, "architectures"))
    arch_map = []
    for item in _list(doc.get("archMap"), where, "archMap"):
        if not isinstance(item, dict) or "architecture" not in item:
            raise _fail(where, "archMap entries need an architecture")
        subs = _list(item.get("subArchitectures"), where, "subArchitectures")
        arch_map.append((_arch(item["architecture"], where), tuple(_arch(s, where) for s in subs)))
    rules = []
    for i, entry in enumerate(_list(doc.get("syscalls"), where, "syscalls")):
        rules.append(_rule(entry, f"{where} syscalls[{i}]".strip(), default_errno))
    return Profile(default_ret, tuple(rules), arches, tuple(arch_map))


def _rule(entry: object, where: str, default_errno: int) -> Rule:
    if not isinstance(entry, dict):
        raise _fail(where, "each entry must be an object")
    names = entry.get("names")
    if names is None and isinstance(entry.get("name"), str):
        names = [entry["name"]]  # the format before Docker 1.13
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise _fail(where, "names must be a non-empty list of system call names")
    if "action" not in entry:
        raise _fail(where, "action is missing")
    errno_ret = entry.get("errnoRet")
    if errno_ret is not None:
        errno_ret = _int(errno_ret, where, "errnoRet")
    ret = _ret(entry["action"], errno_ret, default_errno, where)
    args = tuple(_arg(a, where) for a in _list(entry.get("args"), where, "args"))
    inc = _conditions(entry.get("includes"), where)
    exc = _conditions(entry.get("excludes"), where)
    return Rule(
        names=tuple(names),
        ret=ret,
        args=args,
        caps=inc["caps"],
        arches=inc["arches"],
        min_kernel=inc["min_kernel"],
        not_caps=exc["caps"],
        not_arches=exc["arches"],
    )


def _conditions(doc: object, where: str) -> dict:
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise _fail(where, "includes/excludes must be objects")
    caps = _list(doc.get("caps"), where, "caps")
    arches = _list(doc.get("arches"), where, "arches")
    if not all(isinstance(c, str) for c in caps + arches):
        raise _fail(where, "caps and arches must be lists of strings")
    min_kernel = None
    if doc.get("minKernel"):
        text = doc["minKernel"]
        if not isinstance(text, str) or kernel_version(text) == (0, 0):
            raise _fail(where, f"minKernel {text!r} is not a kernel version such as 4.8")
        min_kernel = kernel_version(text)
    return {
        "caps": tuple(
            c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper() for c in caps
        ),
        "arches": tuple(arches),
        "min_kernel": min_kernel,
    }


def _arg(doc: object, where: str) -> Arg:
    if not isinstance(doc, dict):
        raise _fail(where, "args entries must be objects")
    index = _int(doc.get("index"), where, "args index")
    if not 0 <= index <= 5:
        raise _fail(where, f"args index {index} is out of range (0-5)")
    op = doc.get("op")
    if op not in OPS and op != MASKED_EQ:
        raise _fail(where, f"unknown comparison op {op!r}")
    value = _int(doc.get("value", 0), where, "args value")
    value_two = _int(doc.get("valueTwo", 0), where, "args valueTwo")
    for v in (value, value_two):
        if not 0 <= v < 1 << 64:
            raise _fail(where, f"args value {v} does not fit in 64 bits")
    return Arg(index, op, value, value_two)


def _ret(action: object, errno_ret: int | None, default_errno: int, where: str) -> int:
    if action == "SCMP_ACT_NOTIFY":
        raise _fail(where, "SCMP_ACT_NOTIFY is not supported (no seccomp agent)")
    if action not in _ACTIONS:
        raise _fail(where, f"unknown action {action!r}")
    base = _ACTIONS[action]  # type: ignore[index]
    if base == RET_ERRNO:
        data = default_errno if errno_ret is None else errno_ret
    elif base == RET_TRACE:
        data = errno_ret or 0
    else:
        data = 0
    if not 0 <= data <= RET_DATA:
        raise _fail(where, f"errnoRet {data} is out of range")
    return base | data


def _arch(name: object, where: str) -> str:
    if name not in SCMP_ARCHES:
        raise _fail(where, f"unknown architecture {name!r}")
    return name  # type: ignore[return-value]


def _list(value: object, where: str, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(where, f"{what} must be a list")
    return value


def _int(value: object, where: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"{what} must be an integer")
    return value
