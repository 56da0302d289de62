"""--security-opt: seccomp profiles and no-new-privileges, as Docker takes them.

`parse` checks the options before anything is written and gives what
config.json stores (HostConfig.SecurityOpt: a profile file's JSON text
replaces its path, as the docker CLI does); `write_filter` compiles the
container's filter for its capabilities at `create`, so that start and
exec only read bytes. Compiled programs are also kept in a cache shared by
the data root, keyed by everything they depend on, so that most creates
neither import the compiler nor run it.
"""

from __future__ import annotations

import os
from pathlib import Path

from tuidock.core.record import Record, field
from tuidock.errors import UsageError

FILTER_FILE = "seccomp.bpf"
BUILTIN = "builtin"
UNCONFINED = "unconfined"


class SecurityOptions(Record):
    seccomp: str = BUILTIN  # "builtin" | "unconfined" | "custom"
    profile: object = None  # the custom profile.Profile
    profile_text: str = ""  # its JSON, compact
    no_new_privs: bool = False
    stored: list[str] = field(default_factory=list)  # HostConfig.SecurityOpt


def _hint() -> str:
    return "Use seccomp=unconfined, seccomp=<profile.json> or no-new-privileges[=true|false]."


def parse(options: list[str], privileged: bool = False) -> SecurityOptions:
    out = SecurityOptions()
    for option in options:
        key, sep, value = option.partition("=")
        if not sep and ":" in option:  # Docker's old "seccomp:..." spelling
            key, sep, value = option.partition(":")
        key = key.strip()
        if key == "no-new-privileges":
            if sep and value not in ("true", "false"):
                raise UsageError(f'invalid --security-opt: "{option}"', _hint())
            out.no_new_privs = not sep or value == "true"
            out.stored.append(option)
        elif key == "seccomp" and sep and value:
            if value in (UNCONFINED, BUILTIN):
                out.seccomp, out.profile = value, None
                out.stored.append(option)
            else:
                from tuidock.runtime.linux.seccomp.profile import load_file

                out.profile, text = load_file(value)
                out.seccomp, out.profile_text = "custom", text
                out.stored.append(f"seccomp={text}")
        elif key in ("apparmor", "label", "systempaths", "mask", "unmask"):
            raise UsageError(f"--security-opt {key}: not supported by tuidock", _hint())
        else:
            raise UsageError(f'invalid --security-opt: "{option}"', _hint())
    if privileged:
        out.seccomp, out.profile = UNCONFINED, None  # --privileged runs unconfined, as Docker
    return out


def write_filter(
    opts: SecurityOptions, caps: set[int], cdir: Path, cache: Path | None = None
) -> str:
    """The filter for `caps` into cdir (from `cache` when compiled before);
    its path, or "" when unconfined."""
    if opts.seccomp == UNCONFINED:
        return ""
    cached = cache / f"{_cache_key(opts, caps)}.bpf" if cache is not None else None
    try:
        program = cached.read_bytes() if cached is not None else b""
    except OSError:
        program = b""
    if not program or len(program) % 8:  # missing, or cut short: compile it again
        program = _compile(opts, caps)
        if cached is not None:
            _store(cached, program)
    path = cdir / FILTER_FILE
    path.write_bytes(program)
    return str(path)


def _cache_key(opts: SecurityOptions, caps: set[int]) -> str:
    """Everything a compiled program depends on: tuidock's version, the
    compiler and its data (by file identity), the profile, the capabilities,
    the host's architecture and kernel."""
    from tuidock import __version__
    from tuidock.runtime.linux import seccomp as seccomp_pkg

    try:
        # hashlib's own BLAKE2, without the ~2.5 ms of loading OpenSSL's hashes
        from _blake2 import blake2b
    except ImportError:
        from hashlib import blake2b

    h = blake2b(digest_size=16)
    h.update(f"tuidock {__version__};".encode())
    code = Path(seccomp_pkg.__file__).parent
    for name in ("compiler.py", "defaultprofile.py", "profile.py", "syscallnums.py"):
        st = os.stat(code / name)
        h.update(f"{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    uname = os.uname()
    caps_mask = sum(1 << c for c in caps)
    h.update(f"{uname.machine};{uname.release};{caps_mask:x};{opts.seccomp};".encode())
    h.update(opts.profile_text.encode())
    return h.hexdigest()


def _store(path: Path, program: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_bytes(program)
        os.replace(tmp, path)
    except OSError:
        pass  # only a cache


def _compile(opts: SecurityOptions, caps: set[int]) -> bytes:
    from tuidock.runtime.linux.capabilities import cap_name
    from tuidock.runtime.linux.seccomp.compiler import compile_filter

    if opts.profile is None:
        from tuidock.runtime.linux.seccomp.defaultprofile import default_profile

        profile = default_profile()
    else:
        profile = opts.profile
    return compile_filter(profile, {cap_name(c) for c in caps})  # type: ignore[arg-type]


def read_filter(path: str) -> bytes | None:
    """The compiled filter a spec names (None: unconfined)."""
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()
