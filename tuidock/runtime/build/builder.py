"""Building an image from a parsed Dockerfile, step by step, as Docker's classic builder.

Every step makes an image (untagged until the end): a step that changes
files (RUN, COPY, ADD) adds one layer, the others only change the config
and add a history entry with `empty_layer: true`. `created_by` is Docker's
text (`/bin/sh -c #(nop)  CMD ["sh"]`, `|1 A=b /bin/sh -c echo hi`,
`/bin/sh -c #(nop) COPY file:<sha> in /x `).

RUN runs in a real container made by the container service, with the
engine's default isolation and seccomp, the image's env plus the build
args in scope, and the build's network; its upper directory becomes the
layer (commit.write_layer). COPY and ADD write their layer tar directly from
the source tree (context.py): nothing is mounted, and the hardened layer
unpacker applies it, so nothing lands outside the image's root.

Cache: each step's key is sha256(parent image ID, instruction text, the
build args it sees, and for COPY/ADD the digest of its sources); the
BuildCache maps the key to the image the step made. A hit whose image is
gone is a miss.

Every step's image names the one before as its parent (Docker's classic
builder does the same): `images` hides those untagged step images, and rmi
and prune take them with the image they lead to.

Failure and interruption: the step's container is removed and its scratch
dir deleted in `finally`; images are only indexed once complete. A build
killed with SIGKILL leaves a labelled container (removed by the next build,
as its owner is gone) and a scratch dir under <root>/tmp named after the
dead process (reclaimed by prune). The `cancel` event stops a build in
process: it is checked before every step and between the files a COPY
writes, and a watcher thread kills a running RUN's container; the step's
container, layer and scratch dir then go by the same `finally` paths.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import re
import stat
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tuidock.errors import TuidockError, UsageError
from tuidock.runtime.build import context as ctxmod
from tuidock.runtime.build.dockerfile import Dockerfile, Instruction, ShellLex, key_values, parse
from tuidock.runtime.store import scratch
from tuidock.runtime.store.buildcache import BuildCache

if TYPE_CHECKING:
    from tuidock.runtime.container.service import Containers
    from tuidock.runtime.image.service import ImageService
    from tuidock.runtime.store.images import ImageRecord

BUILD_LABEL = "io.tuidock.build.owner"
DEFAULT_SHELL = ["/bin/sh", "-c"]
DOCKERFILE_MAX = 4 << 20
# Build args Docker knows without an ARG line (proxies), kept out of history.
PREDEFINED_ARGS = frozenset(
    [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
)
ARCHIVE_RE = re.compile(r"\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz)$")


class BuildError(TuidockError):
    """A step failed; exit_code is what the CLI returns."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


class BuildCancelled(TuidockError):
    """The build's cancel event was set: it stopped with the unfinished step undone."""

    def __init__(self) -> None:
        super().__init__(
            "build cancelled",
            "The finished steps are kept as cache; build again to go on from there.",
        )


@dataclass
class BuildOptions:
    context: str
    dockerfile: str | None = None  # path; None: <context>/Dockerfile
    dockerfile_text: str | None = None  # given on stdin (-f -)
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    network: str = "bridge"
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Stage:
    name: str
    index: int
    image: ImageRecord | None = None  # None: scratch with no step yet
    config: dict = field(default_factory=dict)
    args: dict[str, str | None] = field(default_factory=dict)  # declared ARGs in scope
    cmd_set: bool = False

    @property
    def image_id(self) -> str:
        return self.image.id if self.image else "scratch"

    @property
    def image_parent(self) -> str:
        """The parent of the image the next step makes: the stage's image so far."""
        return self.image.id if self.image else ""

    @property
    def runcfg(self) -> dict:
        return self.config.setdefault("config", {})

    @property
    def shell(self) -> list[str]:
        return list(self.runcfg.get("Shell") or DEFAULT_SHELL)

    def env(self) -> dict[str, str]:
        return dict(e.partition("=")[::2] for e in self.runcfg.get("Env") or [])


Emit = Callable[[str], None]
Stream = Callable[[bytes], None]


def _now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def check_options(opts: BuildOptions) -> None:
    """What can be refused before the first step: the context and the tags."""
    from tuidock.core.reference import parse as parse_ref

    if not os.path.isdir(opts.context):
        raise UsageError(
            f'unable to prepare context: path "{opts.context}" not found',
            "Give the build context directory.",
        )
    for tag in opts.tags:
        if parse_ref(tag).digest:
            raise UsageError(f"invalid reference format: {tag}", "Give NAME[:TAG] to -t.")


def load_dockerfile(opts: BuildOptions) -> Dockerfile:
    from tuidock.core.userfiles import read_user_text

    if opts.dockerfile_text is not None:
        return parse(opts.dockerfile_text, "Dockerfile")
    path = opts.dockerfile or os.path.join(opts.context, "Dockerfile")
    if opts.dockerfile and not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(opts.context, opts.dockerfile)
    try:
        text = read_user_text(path, "Dockerfile", DOCKERFILE_MAX)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise UsageError(
            f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
            f"lstat {path}: no such file or directory",
            "Give the Dockerfile with -f, or put one in the context directory.",
        ) from None
    return parse(text, os.path.basename(path))


class Builder:
    def __init__(
        self,
        containers: Containers,
        opts: BuildOptions,
        emit: Emit = lambda _: None,
        stream: Stream = lambda _: None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.containers = containers
        self.engine: ImageService = containers.images
        self.opts = opts
        self.emit = emit
        self.stream = stream
        self.cancel = cancel or threading.Event()
        self.cache = BuildCache(self.engine.root)
        self.used_args: set[str] = set()

    # -- the build ------------------------------------------------------------------------

    def build(self) -> str:
        """Build; returns the IMAGE ID of the target stage."""
        check_options(self.opts)
        df = load_dockerfile(self.opts)
        self.df = df
        self.lex = ShellLex(df.escape)
        ignore = ctxmod.IgnoreMatcher.load(self.opts.context)
        self.context = ctxmod.ContextTree(self.opts.context, ignore)
        reap_stale_build_containers(self.containers)

        meta: dict[str, str | None] = {}
        stages: list[list[Instruction]] = []
        heads: list[Instruction] = []
        for ins in df.instructions:
            if ins.cmd == "FROM":
                stages.append([])
                heads.append(ins)
            elif not stages:
                if ins.cmd != "ARG":
                    raise df.error(
                        ins,
                        "no build stage in current context" if ins.cmd != "FROM" else "unexpected",
                        "A Dockerfile starts with FROM (only ARG may come before it).",
                    )
                for key, value in self._arg_pairs(ins, {}):
                    meta[key] = self.opts.build_args.get(key, value)
                    self.used_args.add(key)
            else:
                stages[-1].append(ins)
        if not heads:
            raise df.error(None, "file with no instructions", "Add a FROM line.")
        names = [self._stage_name(h, i) for i, h in enumerate(heads)]
        last = len(heads) - 1
        if self.opts.target:
            want = self.opts.target.lower()
            if want not in names:
                raise UsageError(
                    f"failed to reach build target {self.opts.target} in Dockerfile",
                    "Stages: " + ", ".join(n for n in names if n) + ".",
                )
            last = names.index(want)
        extra = []
        if self.opts.labels:
            text = " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in self.opts.labels.items())
            extra = [Instruction("LABEL", text, heads[last].line, "LABEL " + text)]
        preamble = [ins for ins in df.instructions if ins.line < heads[0].line]
        self.total = len(preamble) + sum(1 + len(s) for s in stages[: last + 1]) + len(extra)
        self.step = 0
        for ins in preamble:
            self._next_step(ins)

        built: list[Stage] = []
        for i in range(last + 1):
            body = stages[i] + (extra if i == last else [])
            built.append(self._build_stage(heads[i], names[i], i, body, meta, built, names))
        final = built[last]
        self.check_cancel()
        if final.image is None:
            raise df.error(heads[last], "no image was built (a scratch stage with no steps)")
        self.emit(f"Successfully built {_short(final.image.id)}")
        for tag in self.opts.tags:
            self.engine.tag(final.image.id, tag)
            from tuidock.core.reference import parse as parse_ref

            self.emit(f"Successfully tagged {parse_ref(tag).familiar()}")
        unused = sorted(
            k for k in self.opts.build_args if k not in self.used_args and k not in PREDEFINED_ARGS
        )
        if unused:
            self.emit(f"[Warning] One or more build-args {unused} were not consumed")
        return final.image.id

    def _stage_name(self, head: Instruction, index: int) -> str:
        words = head.rest.split()
        if len(words) == 3 and words[1].lower() == "as":
            return words[2].lower()
        if len(words) not in (1, 3):
            raise self.df.error(head, "FROM requires either one or three arguments")
        return ""

    # -- stages -----------------------------------------------------------------------------

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise BuildCancelled()

    def _next_step(self, ins: Instruction) -> None:
        self.check_cancel()
        self.step += 1
        self.emit(f"Step {self.step}/{self.total} : {ins.original}")

    def _build_stage(
        self,
        head: Instruction,
        name: str,
        index: int,
        body: list[Instruction],
        meta: dict[str, str | None],
        built: list[Stage],
        names: list[str],
    ) -> Stage:
        self._next_step(head)
        base = self.lex.word(head.rest.split()[0], {k: v or "" for k, v in meta.items()})
        stage = Stage(name, index)
        if base.lower() == "scratch":
            from tuidock.core.platforms import host_platform

            plat = host_platform()
            stage.config = {
                "architecture": plat.architecture,
                "os": plat.os,
                "config": {"Env": ["PATH=" + _default_path()]},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            }
            self.emit(" ---> ")
        else:
            prior = base.lower()
            if prior in names[:index] and prior:
                src = built[names.index(prior)]
            elif prior.isdigit() and int(prior) < index:
                src = built[int(prior)]
            else:
                src = None
            if src is not None:
                stage.image, stage.config = src.image, json.loads(json.dumps(src.config))
            else:
                stage.image = self._base_image(base, head)
                stage.config = json.loads(json.dumps(self.engine.image_config(stage.image)))
            self.emit(f" ---> {_short(stage.image_id)}")
        triggers = list(stage.runcfg.get("OnBuild") or [])
        stage.runcfg["OnBuild"] = None
        if triggers:
            self.emit(
                f"# Executing {len(triggers)} build trigger" + ("s" if len(triggers) > 1 else "")
            )
            for trigger in triggers:
                sub = parse(trigger, f"{self.df.name} (ONBUILD of {base})").instructions
                for ins in sub:
                    ins.line = head.line
                    self._run_step(stage, ins, built, names, announce=False)
        for ins in body:
            self._next_step(ins)
            self._run_step(stage, ins, built, names)
        return stage

    def _base_image(self, ref: str, head: Instruction) -> ImageRecord:
        from tuidock.errors import NotFound

        if not self.opts.pull:
            with contextlib.suppress(NotFound):
                return self.engine.image(ref)
        try:
            self.engine.pull(ref, cancel=self.cancel)
        except TuidockError as exc:
            self.check_cancel()
            raise self.df.error(head, f"pulling {ref}: {exc.message}", exc.hint) from None
        return self.engine.image(ref)

    # -- steps ------------------------------------------------------------------------------

    def _scope_env(self, stage: Stage) -> dict[str, str]:
        """What $VAR means in an expanded instruction: ARGs in scope, ENV over them."""
        env = {k: v for k, v in stage.args.items() if v is not None}
        env.update(stage.env())
        return env

    def _arg_values(self, stage: Stage) -> dict[str, str]:
        """The build args a RUN sees: declared, with a value, not shadowed by ENV."""
        envnames = set(stage.env())
        return {k: v for k, v in stage.args.items() if v is not None and k not in envnames}

    def _run_step(
        self,
        stage: Stage,
        ins: Instruction,
        built: list[Stage],
        names: list[str],
        announce: bool = True,
    ) -> None:
        handler = getattr(self, "_do_" + ins.cmd.lower())
        self.check_cancel()
        try:
            handler(stage, ins, built, names)
        except (BuildError, BuildCancelled):
            raise
        except UsageError as exc:
            if exc.message.startswith(self.df.name + ":"):
                raise
            raise self.df.error(ins, exc.message, exc.hint) from None

    def _cached(self, key: str) -> ImageRecord | None:
        if self.opts.no_cache:
            return None
        image_id = self.cache.get(key)
        if image_id is None:
            return None
        try:
            rec = self.engine.images.snapshot().resolve(image_id)
        except TuidockError:
            return None
        if not all(self.engine.layers.has(c) for c in rec.chain_ids):
            return None
        return rec

    def _key(self, stage: Stage, ins: Instruction, extra: str = "", args: bool = True) -> str:
        h = hashlib.sha256()
        seen = self._arg_values(stage) if args else {}
        h.update(json.dumps([stage.image_id, ins.cmd, ins.original, seen, extra]).encode())
        return h.hexdigest()

    def _use(self, stage: Stage, rec: ImageRecord, key: str, cached: bool) -> None:
        stage.image = rec
        stage.config = json.loads(json.dumps(self.engine.image_config(rec)))
        if cached:
            self.emit(" ---> Using cache")
        else:
            self.cache.put(key, rec.id)
        self.emit(f" ---> {_short(rec.id)}")

    def _meta_step(
        self, stage: Stage, ins: Instruction, change: Callable[[dict], None], created_by: str
    ) -> None:
        """A step that only changes the config: a new image on the same layers."""
        key = self._key(stage, ins)
        hit = self._cached(key)
        if hit is not None:
            return self._use(stage, hit, key, cached=True)
        config = json.loads(json.dumps(stage.config))
        change(config.setdefault("config", {}))
        created = _now()
        config["created"] = created
        config["history"] = [
            *(config.get("history") or []),
            {"created": created, "created_by": created_by, "empty_layer": True},
        ]
        from tuidock.runtime.image.local import store_local_image

        layers = list(stage.image.layers) if stage.image else []
        config_bytes = json.dumps(config, separators=(",", ":")).encode()
        rec = store_local_image(self.engine, config_bytes, layers, [], stage.image_parent)
        self._use(stage, rec, key, cached=False)

    def _nop(self, stage: Stage, text: str, two_spaces: bool = True) -> str:
        return " ".join(stage.shell) + (" #(nop)  " if two_spaces else " #(nop) ") + text

    def _do_arg(self, stage: Stage, ins: Instruction, *_: object) -> None:
        for key, value in self._arg_pairs(ins, self._scope_env(stage)):
            self.used_args.add(key)
            stage.args[key] = self.opts.build_args.get(key, value)
        text = ins.rest
        self._meta_step(stage, ins, lambda cfg: None, self._nop(stage, f"ARG {text}"))

    def _arg_pairs(self, ins: Instruction, env: dict[str, str]) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        for word in self.lex.split(ins.rest):
            key, eq, value = word.partition("=")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise self.df.error(ins, f"ARG names can not be blank or invalid: {key!r}")
            out.append((key, self.lex.word(value, env) if eq else None))
        if not out:
            raise self.df.error(ins, "ARG requires exactly one argument")
        return out

    def _do_env(self, stage: Stage, ins: Instruction, *_: object) -> None:
        pairs = key_values(self.lex, ins.rest, self._scope_env(stage), "ENV")

        def change(cfg: dict) -> None:
            env = dict(e.partition("=")[::2] for e in cfg.get("Env") or [])
            for k, v in pairs:
                env[k] = v
            cfg["Env"] = [f"{k}={v}" for k, v in env.items()]

        text = " ".join(f"{k}={v}" for k, v in pairs)
        self._meta_step(stage, ins, change, self._nop(stage, f"ENV {text}"))

    def _do_label(self, stage: Stage, ins: Instruction, *_: object) -> None:
        pairs = key_values(self.lex, ins.rest, self._scope_env(stage), "LABEL")

        def change(cfg: dict) -> None:
            cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(pairs)}

        text = " ".join(f"{k}={v}" for k, v in pairs)
        self._meta_step(stage, ins, change, self._nop(stage, f"LABEL {text}"))

    def _do_maintainer(self, stage: Stage, ins: Instruction, *_: object) -> None:
        def change(cfg: dict) -> None:
            pass

        self._meta_step(stage, ins, change, self._nop(stage, f"MAINTAINER {ins.rest}"))

    def _exec_or_shell(self, stage: Stage, ins: Instruction) -> list[str]:
        form = ins.json
        return form if form is not None else [*stage.shell, ins.rest]

    def _do_cmd(self, stage: Stage, ins: Instruction, *_: object) -> None:
        cmd = self._exec_or_shell(stage, ins)
        stage.cmd_set = True
        self._meta_step(
            stage,
            ins,
            lambda cfg: cfg.__setitem__("Cmd", cmd),
            self._nop(stage, "CMD " + _go_list(cmd)),
        )

    def _do_entrypoint(self, stage: Stage, ins: Instruction, *_: object) -> None:
        ep = self._exec_or_shell(stage, ins)
        keep_cmd = stage.cmd_set

        def change(cfg: dict) -> None:
            cfg["Entrypoint"] = ep
            if not keep_cmd:
                cfg["Cmd"] = None  # Docker drops a CMD inherited from the base image

        self._meta_step(stage, ins, change, self._nop(stage, "ENTRYPOINT " + _go_list(ep)))

    def _do_shell(self, stage: Stage, ins: Instruction, *_: object) -> None:
        shell = ins.json
        if not shell:
            raise self.df.error(ins, "SHELL requires the arguments to be in JSON form")
        self._meta_step(
            stage,
            ins,
            lambda cfg: cfg.__setitem__("Shell", shell),
            self._nop(stage, "SHELL " + _go_list(shell)),
        )

    def _do_expose(self, stage: Stage, ins: Instruction, *_: object) -> None:
        ports = []
        for word in self.lex.words(ins.rest, self._scope_env(stage)):
            port, _, proto = word.partition("/")
            if not re.fullmatch(r"\d+(-\d+)?", port) or proto not in ("", "tcp", "udp", "sctp"):
                raise self.df.error(ins, f"invalid containerPort: {word}")
            ports.append(f"{port}/{proto or 'tcp'}")

        def change(cfg: dict) -> None:
            cfg["ExposedPorts"] = {**(cfg.get("ExposedPorts") or {}), **{p: {} for p in ports}}

        self._meta_step(stage, ins, change, self._nop(stage, "EXPOSE " + " ".join(ports)))

    def _do_volume(self, stage: Stage, ins: Instruction, *_: object) -> None:
        form = ins.json
        env = self._scope_env(stage)
        vols = (
            [self.lex.word(v, env) for v in form]
            if form is not None
            else self.lex.words(ins.rest, env)
        )
        if not vols or any(not v.strip() for v in vols):
            raise self.df.error(ins, "VOLUME specified can not be an empty string")

        def change(cfg: dict) -> None:
            cfg["Volumes"] = {**(cfg.get("Volumes") or {}), **{v: {} for v in vols}}

        self._meta_step(stage, ins, change, self._nop(stage, "VOLUME [" + " ".join(vols) + "]"))

    def _do_workdir(self, stage: Stage, ins: Instruction, *_: object) -> None:
        path = self.lex.word(ins.rest.strip(), self._scope_env(stage))
        if not path:
            raise self.df.error(ins, "WORKDIR requires exactly one argument")
        cur = stage.runcfg.get("WorkingDir") or "/"
        new = posixpath.normpath(posixpath.join(cur, path))

        self._meta_step(
            stage,
            ins,
            lambda cfg: cfg.__setitem__("WorkingDir", new),
            self._nop(stage, f"WORKDIR {new}", two_spaces=False),
        )

    def _do_user(self, stage: Stage, ins: Instruction, *_: object) -> None:
        user = self.lex.word(ins.rest.strip(), self._scope_env(stage))
        if not user:
            raise self.df.error(ins, "USER requires exactly one argument")
        self._meta_step(
            stage, ins, lambda cfg: cfg.__setitem__("User", user), self._nop(stage, f"USER {user}")
        )

    def _do_stopsignal(self, stage: Stage, ins: Instruction, *_: object) -> None:
        sig = self.lex.word(ins.rest.strip(), self._scope_env(stage))
        from tuidock.runtime.container.options import signal_number

        signal_number(sig)
        self._meta_step(
            stage,
            ins,
            lambda cfg: cfg.__setitem__("StopSignal", sig),
            self._nop(stage, f"STOPSIGNAL {sig}"),
        )

    def _do_healthcheck(self, stage: Stage, ins: Instruction, *_: object) -> None:
        words = ins.rest.split(None, 1)
        kind = words[0].upper() if words else ""
        if kind == "NONE":
            if len(words) > 1 or ins.flags:
                raise self.df.error(ins, "HEALTHCHECK NONE takes no arguments")
            hc: dict = {"Test": ["NONE"]}
        elif kind == "CMD" and len(words) > 1:
            probe = Instruction("CMD", words[1], ins.line, "").json
            test = ["CMD", *probe] if probe is not None else ["CMD-SHELL", words[1]]
            hc = {"Test": test}
            for flag, key in (
                ("interval", "Interval"),
                ("timeout", "Timeout"),
                ("start-period", "StartPeriod"),
                ("start-interval", "StartInterval"),
            ):
                if flag in ins.flags:
                    hc[key] = _duration(ins.flags[flag], flag)
            if "retries" in ins.flags:
                try:
                    hc["Retries"] = int(ins.flags["retries"])
                except ValueError:
                    raise UsageError(f"invalid --retries value {ins.flags['retries']!r}") from None
        else:
            raise self.df.error(
                ins, 'Unknown type "%s" in HEALTHCHECK (try CMD)' % (words[0] if words else "")
            )
        self._meta_step(
            stage,
            ins,
            lambda cfg: cfg.__setitem__("Healthcheck", hc),
            self._nop(stage, "HEALTHCHECK " + _go_healthcheck(hc)),
        )

    def _do_onbuild(self, stage: Stage, ins: Instruction, *_: object) -> None:
        word, _, rest = ins.rest.strip().partition(" ")
        trigger = word.upper() + " " + rest.strip()
        if word.upper() in ("ONBUILD", "FROM", "MAINTAINER"):
            raise self.df.error(ins, f"{word.upper()} isn't allowed as an ONBUILD trigger")

        def change(cfg: dict) -> None:
            cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), trigger]

        self._meta_step(stage, ins, change, self._nop(stage, f"ONBUILD {trigger}"))

    def _do_from(self, stage: Stage, ins: Instruction, *_: object) -> None:
        raise self.df.error(ins, "FROM isn't allowed as an ONBUILD trigger")

    # -- RUN --------------------------------------------------------------------------------

    def _do_run(self, stage: Stage, ins: Instruction, *_: object) -> None:
        if stage.image is None or not stage.image.diff_ids:
            raise self.df.error(ins, "RUN needs a base image with a shell (FROM scratch has none)")
        form = ins.json
        if form is not None:
            cmd = form
        elif ins.heredocs and re.fullmatch(r"<<-?\s*['\"]?\w+['\"]?", ins.rest.strip()):
            doc = ins.heredocs[0]
            cmd = [*stage.shell, doc.content]
        elif ins.heredocs:
            script = ins.rest
            for doc in ins.heredocs:
                script += "\n" + doc.content + doc.name
            cmd = [*stage.shell, script]
        else:
            cmd = [*stage.shell, ins.rest]
        args = self._arg_values(stage)
        created_by = " ".join(cmd)
        if args:
            pairs = " ".join(f"{k}={v}" for k, v in sorted(args.items()))
            created_by = f"|{len(args)} {pairs} {created_by}"
        key = self._key(stage, ins, extra=json.dumps(cmd))
        hit = self._cached(key)
        if hit is not None:
            return self._use(stage, hit, key, cached=True)
        rec = self._run_container(stage, ins, cmd, args, created_by)
        self._use(stage, rec, key, cached=False)

    def _run_container(
        self, stage: Stage, ins: Instruction, cmd: list[str], args: dict[str, str], created_by: str
    ) -> ImageRecord:
        from tuidock.runtime.container import commit as commitmod
        from tuidock.runtime.container import fs as ctrfs
        from tuidock.runtime.container.monitor import protocol as proto
        from tuidock.runtime.container.options import CreateOptions
        from tuidock.runtime.image.tarimport import register_layer_image

        assert stage.image is not None
        cfg = stage.runcfg
        opts = CreateOptions(
            image=stage.image.id,
            command=cmd,
            entrypoint="",
            env=[f"{k}={v}" for k, v in args.items()],
            workdir=cfg.get("WorkingDir") or None,
            user=cfg.get("User") or None,
            network=self.opts.network,
            labels={BUILD_LABEL: scratch.owner_tag()},
        )
        cid = None
        try:
            cid, _ = self.containers.create(opts)
            self.emit(f" ---> Running in {cid[:12]}")
            _, client = self.containers.start(cid, attach=True)
            assert client is not None
            code = None
            watcher, step_done = self._kill_on_cancel(cid)
            try:
                while code is None:
                    frames = client.read_frames()
                    if not frames:
                        break
                    for kind, payload in frames:
                        if kind in (proto.STDOUT, proto.STDERR):
                            self.stream(payload)
                        elif kind == proto.EXIT:
                            code = int(json.loads(payload).get("ExitCode") or 0)
            finally:
                step_done.set()
                watcher.join()
                client.close()
            self.check_cancel()
            if code is None:
                code = self.containers.wait(cid)
            if code != 0:
                shown = json.dumps(cmd) if ins.json is not None else " ".join(cmd)
                raise BuildError(
                    f"The command '{shown}' returned a non-zero code: {code}",
                    f"{self.df.name}:{ins.line}: {ins.original}",
                )
            layers = ctrfs.ContainerLayers.of(self.containers, cid)
            cconfig = self.containers.store.read_config(cid)
            config = json.loads(json.dumps(stage.config))
            created = _now()
            config["created"] = created
            config["history"] = [
                *(config.get("history") or []),
                {"created": created, "created_by": created_by},
            ]
            with scratch.temp_dir(self.engine.root, "build") as work:
                raw = os.path.join(work, "layer.tar")
                skip = commitmod._runtime_only(layers.upper, layers.lowers, cconfig)
                diff_id = commitmod.write_layer(layers.upper, raw, skip)
                image_id = register_layer_image(
                    self.engine, raw, diff_id, stage.image, config, None, stage.image_parent
                )
            self.emit(f"Removing intermediate container {cid[:12]}")
            return self.engine.images.snapshot().resolve(image_id)
        finally:
            if cid is not None:
                with contextlib.suppress(TuidockError, OSError):
                    self.containers.remove(cid, force=True)

    def _kill_on_cancel(self, cid: str) -> tuple[threading.Thread, threading.Event]:
        """A thread that kills the step's container if the build is cancelled
        before the step ends (set the returned event when it does)."""
        step_done = threading.Event()

        def watch() -> None:
            while not step_done.is_set():
                if self.cancel.wait(0.1):
                    with contextlib.suppress(TuidockError, OSError):
                        self.containers.kill(cid)
                    return

        watcher = threading.Thread(target=watch, name=f"build-cancel-{cid[:12]}", daemon=True)
        watcher.start()
        return watcher, step_done

    # -- COPY / ADD -------------------------------------------------------------------------

    def _do_copy(
        self, stage: Stage, ins: Instruction, built: list[Stage], names: list[str]
    ) -> None:
        self._copy(stage, ins, built, names, add=False)

    def _do_add(self, stage: Stage, ins: Instruction, built: list[Stage], names: list[str]) -> None:
        self._copy(stage, ins, built, names, add=True)

    def _source_tree(
        self, ins: Instruction, built: list[Stage], names: list[str], stage: Stage
    ) -> ctxmod.Tree:
        src = ins.flags.get("from")
        if not src:
            return self.context
        ref = self.lex.word(src, self._scope_env(stage))
        low = ref.lower()
        if low in names[: len(built)] and low:
            other = built[names.index(low)]
        elif low.isdigit() and int(low) < len(built):
            other = built[int(low)]
        else:
            if low in names:
                raise self.df.error(ins, f"COPY --from={ref}: the stage is not built yet")
            other = Stage(ref, -1, self._base_image(ref, ins))
        if other.image is None:
            return ctxmod.LayersTree([])
        return ctxmod.LayersTree(self._layer_dirs(other.image))

    def _layer_dirs(self, rec: ImageRecord) -> list:
        return [self.engine.layers.diff_dir(c) for c in reversed(rec.chain_ids)]

    def _copy(
        self, stage: Stage, ins: Instruction, built: list[Stage], names: list[str], add: bool
    ) -> None:
        what = "ADD" if add else "COPY"
        env = self._scope_env(stage)
        form = ins.json
        words = (
            [self.lex.word(w, env) for w in form]
            if form is not None
            else self.lex.words(ins.rest, env)
        )
        if len(words) < 2:
            raise self.df.error(
                ins,
                f"{what} requires at least two arguments, but only one was provided. Destination could not be determined.",
            )
        *srcs, dest = words
        tree = self._source_tree(ins, built, names, stage)
        from_context = tree is self.context
        workdir = stage.runcfg.get("WorkingDir") or "/"
        dest_abs = posixpath.join(workdir, dest) if not dest.startswith("/") else dest
        dest_rel = posixpath.normpath(dest_abs).lstrip("/")
        dest_rel = "" if dest_rel == "." else dest_rel
        image_tree = ctxmod.LayersTree(self._layer_dirs(stage.image) if stage.image else [])

        items: list[tuple[str, object]] = []  # (source, node | heredoc | url)
        docs = {f"<<{d.name}": d for d in ins.heredocs}
        docs.update({f"<<-{d.name}": d for d in ins.heredocs})
        for src in srcs:
            key = src.replace('"', "").replace("'", "")
            if key in docs:
                items.append((src, docs[key]))
            elif add and re.match(r"^https?://", src):
                items.append((src, "url"))
            else:
                found = ctxmod.find_sources(tree, src)
                if not found:
                    raise self.df.error(
                        ins,
                        f"{what} failed: file not found in build context or excluded by "
                        f".dockerignore: stat {src}: file does not exist",
                        "Sources are paths inside the build context; `..` and symlinks cannot leave it.",
                    )
                items += [(src, n) for n in found]
        dest_dir_exists = False
        existing = image_tree.resolve(dest_rel) if dest_rel else image_tree.root()
        if existing is not None and existing.is_dir:
            dest_dir_exists = True
        into_dir = (
            dest.endswith("/") or dest_abs.endswith("/.") or len(items) > 1 or dest_dir_exists
        )
        if len(srcs) > 1 and not dest.endswith("/"):
            raise self.df.error(
                ins,
                f"When using {what} with more than one source file, the destination must be a directory and end with a /",
            )

        digest = hashlib.sha256()
        nodes = [n for _, n in items if isinstance(n, ctxmod.Node)]
        digest.update(ctxmod.digest_sources(tree, nodes).encode())
        for src, n in items:
            if not isinstance(n, ctxmod.Node):
                digest.update(
                    src.encode() + b"\0" + (n.content.encode() if hasattr(n, "content") else b"url")
                )
        if add:
            for _src, n in items:
                if n == "url":
                    digest.update(str(time.time_ns()).encode())  # a URL is fetched every build
        extra = json.dumps([dest_rel, into_dir, ins.flags]) + digest.hexdigest()
        key = self._key(stage, ins, extra=extra, args=False)
        hit = self._cached(key)
        if hit is not None:
            return self._use(stage, hit, key, cached=True)

        chown = (
            self._chown(ins.flags.get("chown"), image_tree, env) if ins.flags.get("chown") else None
        )
        chmod = None
        if ins.flags.get("chmod"):
            try:
                chmod = int(ins.flags["chmod"], 8)
            except ValueError:
                raise self.df.error(ins, f"invalid chmod parameter: {ins.flags['chmod']}") from None
        if len(nodes) == len(items) == 1 and not nodes[0].is_dir:
            kind = "file"
        elif len(nodes) == len(items) == 1:
            kind = "dir"
        else:
            kind = "multi"
        shown = posixpath.normpath(dest_abs) + ("/" if into_dir and dest_rel else "")
        created_by = self._nop(
            stage, f"{what} {kind}:{digest.hexdigest()} in {shown} ", two_spaces=False
        )

        with scratch.temp_dir(self.engine.root, "build") as work:
            raw = os.path.join(work, "layer.tar")
            writer = _LayerWriter(raw, image_tree, chown, chmod, keep_owner=not from_context)
            writer.check = self.check_cancel
            try:
                for src, n in items:
                    if isinstance(n, ctxmod.Node):
                        base = posixpath.basename(n.rel) if n.rel else ""
                        if n.is_dir:
                            writer.tree(tree, n, dest_rel)
                        elif add and from_context and ARCHIVE_RE.search(n.rel):
                            writer.archive(tree, n, dest_rel)
                        else:
                            writer.node(
                                tree, n, posixpath.join(dest_rel, base) if into_dir else dest_rel
                            )
                    elif n == "url":
                        writer.url(src, dest_rel, into_dir, work)
                    else:
                        content = n.content
                        if n.expand:
                            content = _expand_heredoc(self.lex, content, env)
                        writer.data(
                            content.encode(),
                            posixpath.join(dest_rel, n.name)
                            if into_dir and len(items) > 1
                            else dest_rel,
                        )
            except BaseException:
                writer.discard()
                raise
            diff_id = writer.close()
            self.check_cancel()
            config = json.loads(json.dumps(stage.config))
            created = _now()
            config["created"] = created
            config["history"] = [
                *(config.get("history") or []),
                {"created": created, "created_by": created_by},
            ]
            from tuidock.runtime.image.tarimport import register_layer_image

            image_id = register_layer_image(
                self.engine, raw, diff_id, stage.image, config, None, stage.image_parent
            )
        self._use(stage, self.engine.images.snapshot().resolve(image_id), key, cached=False)

    def _chown(self, spec: str, image_tree: ctxmod.Tree, env: dict[str, str]) -> tuple[int, int]:
        spec = self.lex.word(spec, env)
        user, _, group = spec.partition(":")

        def lookup(name: str, file: str) -> int:
            if name.isdigit():
                return int(name)
            node = image_tree.resolve(file)
            if node is not None and stat.S_ISREG(node.st.st_mode):
                with open(node.path, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        fields = line.split(":")
                        if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
                            return int(fields[2])
            raise UsageError(
                f"unable to convert uid/gid chown string to host mapping: no such user or group: {name}"
            )

        uid = lookup(user, "etc/passwd")
        gid = lookup(group, "etc/group") if group else uid
        return uid, gid


class _LayerWriter:
    """A layer tar of copied files: missing parent dirs made as Docker makes them."""

    def __init__(
        self,
        path: str,
        image_tree: ctxmod.Tree,
        chown: tuple[int, int] | None,
        chmod: int | None,
        keep_owner: bool,
    ) -> None:
        self.path = path
        self.out = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.tar = tarfile.open(fileobj=self.out, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self.image_tree = image_tree
        self.chown = chown
        self.chmod = chmod
        self.keep_owner = keep_owner
        self.done: set[str] = set()
        self.now = int(time.time())
        self.check: Callable[[], None] = lambda: None  # raises to stop between files

    def _parents(self, rel: str) -> None:
        parts = rel.split("/")[:-1]
        for k in range(1, len(parts) + 1):
            p = "/".join(parts[:k])
            if p in self.done:
                continue
            self.done.add(p)
            info = tarfile.TarInfo(p)
            info.type = tarfile.DIRTYPE
            existing = self.image_tree.resolve(p, follow_last=False)
            if existing is not None and existing.is_dir:
                info.mode = stat.S_IMODE(existing.st.st_mode)
                info.uid, info.gid = existing.st.st_uid, existing.st.st_gid
                info.mtime = int(existing.st.st_mtime)
            else:
                info.mode, info.mtime = 0o755, self.now
            self.tar.addfile(info)

    def _owner(self, info: tarfile.TarInfo, st: os.stat_result | None) -> None:
        if self.chown is not None:
            info.uid, info.gid = self.chown
        elif self.keep_owner and st is not None:
            info.uid, info.gid = st.st_uid, st.st_gid
        else:
            info.uid = info.gid = 0
        info.uname = info.gname = ""

    def node(self, tree: ctxmod.Tree, n: ctxmod.Node, rel: str) -> None:
        self.check()
        if not rel:
            return
        self._parents(rel)
        self.done.add(rel)
        st = n.st
        info = tarfile.TarInfo(rel)
        info.mtime = int(st.st_mtime)
        info.mode = stat.S_IMODE(st.st_mode)
        if self.chmod is not None:
            info.mode = self.chmod
        self._owner(info, st)
        if stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(st.st_mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(n.path)
        elif stat.S_ISREG(st.st_mode):
            info.size = st.st_size
            fd = tree.read(n)
            with os.fdopen(fd, "rb") as f:
                self.tar.addfile(info, f)
            return
        elif stat.S_ISFIFO(st.st_mode):
            info.type = tarfile.FIFOTYPE
        else:
            return  # devices and sockets in a context are not copied
        self.tar.addfile(info)

    def tree(self, tree: ctxmod.Tree, top: ctxmod.Node, dest_rel: str) -> None:
        if dest_rel and dest_rel not in self.done:
            self._parents(dest_rel)
            existing = self.image_tree.resolve(dest_rel)
            if existing is None:
                self.node(tree, top, dest_rel)
        for n in tree.walk(top)[1:]:
            sub = n.rel[len(top.rel) :].lstrip("/") if top.rel else n.rel
            self.node(tree, n, posixpath.join(dest_rel, sub) if dest_rel else sub)

    def data(self, content: bytes, rel: str) -> None:
        import io

        self._parents(rel)
        info = tarfile.TarInfo(rel)
        info.size, info.mode, info.mtime = len(content), self.chmod or 0o644, self.now
        self._owner(info, None)
        self.tar.addfile(info, io.BytesIO(content))

    def archive(self, tree: ctxmod.Tree, n: ctxmod.Node, dest_rel: str) -> None:
        fd = tree.read(n)
        with os.fdopen(fd, "rb") as f, tarfile.open(fileobj=f, mode="r:*") as src:
            for m in src:
                name = posixpath.normpath(m.name.lstrip("/"))
                if name in (".", "") or name.startswith("../") or name == "..":
                    continue
                m.name = posixpath.join(dest_rel, name) if dest_rel else name
                if m.islnk():
                    m.linkname = posixpath.join(
                        dest_rel, posixpath.normpath(m.linkname.lstrip("/"))
                    )
                self._parents(m.name)
                if self.chown is not None:
                    m.uid, m.gid = self.chown
                m.uname = m.gname = ""
                self.tar.addfile(m, src.extractfile(m) if m.isreg() else None)

    def url(self, url: str, dest_rel: str, into_dir: bool, work: str) -> None:
        import requests

        name = posixpath.basename(url.split("?", 1)[0].rstrip("/")) or "index.html"
        try:
            resp = requests.get(url, timeout=60)
            resp.raise_for_status()
        except requests.RequestException as exc:
            raise UsageError(f"failed to download {url}: {type(exc).__name__}") from None
        rel = posixpath.join(dest_rel, name) if into_dir or not dest_rel else dest_rel
        self._parents(rel)
        import io

        info = tarfile.TarInfo(rel)
        info.size, info.mode = len(resp.content), self.chmod or 0o600
        modified = resp.headers.get("Last-Modified")
        if modified:
            from email.utils import parsedate_to_datetime

            with contextlib.suppress(TypeError, ValueError):
                info.mtime = int(parsedate_to_datetime(modified).timestamp())
        self._owner(info, None)
        self.tar.addfile(info, io.BytesIO(resp.content))

    def discard(self) -> None:
        """Close an unfinished layer (the scratch dir holding it is removed after)."""
        with contextlib.suppress(OSError, tarfile.TarError):
            self.tar.close()
        self.out.close()

    def close(self) -> str:
        self.tar.close()
        self.out.close()
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return "sha256:" + h.hexdigest()


# -- helpers ----------------------------------------------------------------------------------


def _default_path() -> str:
    from tuidock.runtime.container.options import DEFAULT_PATH

    return DEFAULT_PATH


def _go_list(items: list[str]) -> str:
    """CMD/ENTRYPOINT/SHELL in history as Docker writes them: JSON, `CMD ["sh"]`."""
    return json.dumps(items, separators=(",", ":"))


def _go_healthcheck(hc: dict) -> str:
    test = " ".join(f'"{t}"' for t in hc.get("Test", []))
    return f"&{{[{test}] {_go_dur(hc.get('Interval'))} {_go_dur(hc.get('Timeout'))} {_go_dur(hc.get('StartPeriod'))} {_go_dur(hc.get('StartInterval'))} {hc.get('Retries', 0)}}}"


def _go_dur(ns: int | None) -> str:
    if not ns:
        return '"0s"'
    s = ns / 1e9
    return f'"{int(s)}s"' if s == int(s) else f'"{s}s"'


_DUR_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DUR_UNITS = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}


def _duration(text: str, flag: str) -> int:
    """Go's time.ParseDuration, in nanoseconds."""
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DUR_RE.match(text, pos)
        if not m:
            raise UsageError(f'time: invalid duration "{text}" (--{flag})')
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    if not text:
        raise UsageError(f'time: invalid duration "" (--{flag})')
    return int(total)


def _expand_heredoc(lex: ShellLex, content: str, env: dict[str, str]) -> str:
    out = []
    for line in content.split("\n"):
        out.append(
            re.sub(
                r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*",
                lambda m: lex.word(m.group(0), env),
                line,
            )
        )
    return "\n".join(out)


def reap_stale_build_containers(containers: Containers) -> None:
    """Remove build containers whose building process is gone (a build killed with -9)."""
    for cid in containers.store.ids():
        try:
            labels = (containers.store.read_config(cid).get("Config") or {}).get("Labels") or {}
        except (OSError, ValueError, TuidockError):
            continue
        owner = labels.get(BUILD_LABEL)
        if owner and scratch.owner_gone(owner):
            with contextlib.suppress(TuidockError, OSError):
                containers.remove(cid, force=True)
