"""Regenerate tuidock/runtime/seccomp/syscallnums.py from the kernel headers.

Run on a machine with the Linux UAPI headers and cpp installed (Debian:
linux-libc-dev, cpp). The numbers are read by the C preprocessor from the
headers themselves, never typed by hand:

- x86_64: asm/unistd_64.h; i386 (the compat ABI on x86_64): asm/unistd_32.h;
- aarch64: asm-generic/unistd.h with the __ARCH_WANT_* switches that
  arch/arm64/include/uapi/asm/unistd.h sets.

    python3 scripts/gen_syscall_numbers.py > tuidock/runtime/seccomp/syscallnums.py
"""

from __future__ import annotations

import re
import subprocess
import sys

X86_INCLUDE = "/usr/include/x86_64-linux-gnu"
AARCH64_WANTS = (
    "__ARCH_WANT_RENAMEAT",
    "__ARCH_WANT_NEW_STAT",
    "__ARCH_WANT_SET_GET_RLIMIT",
    "__ARCH_WANT_TIME32_SYSCALLS",
    "__ARCH_WANT_SYS_CLONE3",
    "__ARCH_WANT_MEMFD_SECRET",
)
# Macros named __NR_* that are not system calls.
NOT_SYSCALLS = {"syscalls", "arch_specific_syscall"}
_DEFINE = re.compile(r"#define (__NR3264_\w+|__NR_\w+) (.+)")


def macros(header: str, defines: tuple[str, ...] = (), include: str | None = None) -> dict:
    cmd = ["cpp", "-dM", *(f"-D{d}" for d in defines)]
    if include:
        cmd.append(f"-I{include}")
    out = subprocess.run(
        cmd, input=f"#include <{header}>\n", capture_output=True, text=True, check=True
    ).stdout
    return dict(m.groups() for m in map(_DEFINE.match, out.splitlines()) if m)


def numbers(defs: dict[str, str]) -> dict[str, int]:
    def value(text: str) -> int:
        text = text.strip().strip("()")
        if text in defs:
            return value(defs[text])
        return int(text, 0)

    return {
        name.removeprefix("__NR_"): value(text)
        for name, text in defs.items()
        if name.startswith("__NR_") and name.removeprefix("__NR_") not in NOT_SYSCALLS
    }


def main() -> None:
    tables = {
        "x86_64": numbers(macros("asm/unistd_64.h", include=X86_INCLUDE)),
        "i386": numbers(macros("asm/unistd_32.h", include=X86_INCLUDE)),
        "aarch64": numbers(macros("asm-generic/unistd.h", ("__BITS_PER_LONG=64", *AARCH64_WANTS))),
    }
    w = sys.stdout.write
    w('"""System call numbers per architecture, generated from the kernel headers\n')
    w('by scripts/gen_syscall_numbers.py: do not edit by hand."""\n\n')
    w("# Each table is one string of 'name number' pairs: quick to import, compact.\n")
    w("TABLES: dict[str, str] = {\n")
    for arch, table in tables.items():
        pairs = [f"{n} {v}" for n, v in sorted(table.items(), key=lambda kv: kv[1])]
        w(f'    "{arch}": (\n')
        line = ""
        for pair in pairs:
            if len(line) + len(pair) + 1 > 80:
                w(f'        "{line}"\n')
                line = ""
            line += pair + " "
        w(f'        "{line.rstrip()}"\n')
        w("    ),\n")
    w("}\n")


if __name__ == "__main__":
    main()
