"""The Dockerfile parser: text -> instructions, and Docker's word expansion.

Parsing follows moby/buildkit's frontend/dockerfile/parser: parser
directives (`# escape=` and `# syntax=`, the latter read and ignored) only
before the first other line; comment lines are dropped, also inside a
continued instruction; a line ending in the escape character continues on
the next; blank lines inside a continuation are skipped. RUN, COPY and ADD
take heredocs (`<<EOF`, `<<-EOF` strips leading tabs, a quoted `<<"EOF"`
is not expanded), whose bodies follow the instruction line. Arguments in
JSON form (`["a", "b"]`) are kept as a list; anything else is shell form.

Expansion (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
`${VAR:+alt}`, `${VAR+alt}`) follows buildkit's ShellLex: single quotes
are literal, double quotes group and expand, the escape character escapes
the next one. The builder applies it only to the instructions Docker
applies it to (ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME
WORKDIR, and ONBUILD's trigger when it runs); RUN, CMD and ENTRYPOINT are
left to the shell.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from tuidock.errors import UsageError

INSTRUCTIONS = frozenset(
    [
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    ]
)
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
# Flags each instruction accepts (`--name=value` before its arguments).
FLAGS = {
    "FROM": {"platform"},
    "COPY": {"from", "chown", "chmod", "link", "parents", "exclude"},
    "ADD": {"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"},
    "RUN": {"network", "security", "mount"},
    "HEALTHCHECK": {"interval", "timeout", "start-period", "start-interval", "retries"},
}
DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
HEREDOC_RE = re.compile(r"<<(-?)\s*(['\"]?)([a-zA-Z_][a-zA-Z0-9_]*)\2")


class DockerfileError(UsageError):
    """A Dockerfile that cannot be parsed or built: names the file and the line."""


@dataclass
class Heredoc:
    name: str
    content: str
    expand: bool  # unquoted delimiter: $VAR in the body is expanded
    chomp: bool  # <<- : leading tabs were stripped


@dataclass
class Instruction:
    cmd: str  # upper case
    rest: str  # the arguments as written (continuations joined), flags removed
    line: int  # first line, 1-based
    original: str  # the whole instruction as written, flags included
    flags: dict[str, str] = field(default_factory=dict)
    heredocs: list[Heredoc] = field(default_factory=list)

    @property
    def json(self) -> list[str] | None:
        """The arguments in JSON (exec) form, None in shell form."""
        text = self.rest.strip()
        if not text.startswith("["):
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        return None


@dataclass
class Dockerfile:
    instructions: list[Instruction]
    escape: str = "\\"
    name: str = "Dockerfile"

    def error(self, ins: Instruction | None, message: str, hint: str | None = None):
        where = f"{self.name}:{ins.line}: " if ins is not None else f"{self.name}: "
        return DockerfileError(where + message, hint)


def parse(text: str, name: str = "Dockerfile") -> Dockerfile:
    lines = text.replace("\r\n", "\n").split("\n")
    escape = "\\"
    i = 0
    seen_directives: set[str] = set()
    # Parser directives: only at the very top, each at most once.
    while i < len(lines):
        m = DIRECTIVE_RE.match(lines[i].strip())
        if not m or m.group(1).lower() in seen_directives:
            break
        key, value = m.group(1).lower(), m.group(2)
        if key == "escape":
            if value not in ("\\", "`"):
                raise DockerfileError(
                    f"{name}:{i + 1}: invalid escape token '{value}' does not match ` or \\"
                )
            escape = value
        elif key != "syntax":
            break  # an unknown directive is a comment, and ends the directives
        seen_directives.add(key)
        i += 1

    out: list[Instruction] = []
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        parts = []
        text = raw
        # Continuation: the escape character at the end of the line (after trailing space).
        while True:
            body = text.rstrip()
            if body.endswith(escape):
                parts.append(body[:-1])
                i += 1
                while i < len(lines) and (
                    not lines[i].strip() or lines[i].lstrip().startswith("#")
                ):
                    i += 1
                if i >= len(lines):
                    break
                text = lines[i]
                continue
            parts.append(text)
            i += 1
            break
        joined = "".join(parts).strip()
        word, _, rest = joined.partition(" ")
        if "\t" in word:
            word, _, tail = word.partition("\t")
            rest = tail + " " + rest
        cmd = word.upper()
        line = start + 1
        if cmd not in INSTRUCTIONS:
            raise DockerfileError(
                f"{name}:{line}: unknown instruction: {word}",
                "Check the spelling; see https://docs.docker.com/reference/dockerfile/.",
            )
        rest = rest.strip()
        flags: dict[str, str] = {}
        rest = _take_flags(cmd, rest, flags, name, line)
        heredocs: list[Heredoc] = []
        if cmd in HEREDOC_INSTRUCTIONS and _json_list(rest) is None:
            for m in HEREDOC_RE.finditer(rest):
                chomp, quote, delim = m.group(1) == "-", m.group(2), m.group(3)
                body = []
                while True:
                    if i >= len(lines):
                        raise DockerfileError(
                            f"{name}:{line}: unterminated heredoc <<{delim}",
                            f"End it with a line holding only {delim}.",
                        )
                    cur = lines[i]
                    i += 1
                    check = cur.lstrip("\t") if chomp else cur
                    if check == delim:
                        break
                    body.append(check)
                content = "\n".join(body) + ("\n" if body else "")
                heredocs.append(Heredoc(delim, content, not quote, chomp))
        out.append(Instruction(cmd, rest, line, joined, flags, heredocs))
    return Dockerfile(out, escape, name)


def _json_list(text: str) -> list[str] | None:
    return Instruction("", text, 0, "").json


def _take_flags(cmd: str, rest: str, flags: dict[str, str], name: str, line: int) -> str:
    allowed = FLAGS.get(cmd, set())
    while rest.startswith("--"):
        word, _, after = rest.partition(" ")
        if word == "--":
            break
        key, eq, value = word[2:].partition("=")
        if key not in allowed:
            raise DockerfileError(f"{name}:{line}: unknown flag: {word.partition('=')[0]}")
        flags[key] = value if eq else "true"
        rest = after.lstrip()
    return rest


# -- expansion ------------------------------------------------------------------------------


class ShellLex:
    """buildkit's shell lexer, as far as Dockerfile words go."""

    def __init__(self, escape: str = "\\") -> None:
        self.escape = escape

    def split(self, text: str) -> list[str]:
        """Words split on unquoted whitespace, quotes and escapes kept (for a later process)."""
        words: list[str] = []
        cur: list[str] = []
        quote = ""
        j = 0
        in_word = False
        while j < len(text):
            c = text[j]
            if quote:
                cur.append(c)
                if c == self.escape and quote == '"' and j + 1 < len(text):
                    cur.append(text[j + 1])
                    j += 1
                elif c == quote:
                    quote = ""
            elif c == self.escape and j + 1 < len(text):
                cur += [c, text[j + 1]]
                in_word = True
                j += 1
            elif c in "'\"":
                quote = c
                cur.append(c)
                in_word = True
            elif c.isspace():
                if in_word:
                    words.append("".join(cur))
                    cur, in_word = [], False
            else:
                cur.append(c)
                in_word = True
            j += 1
        if in_word:
            words.append("".join(cur))
        return words

    def word(self, text: str, env: dict[str, str]) -> str:
        """One word: quotes removed, escapes applied, variables expanded."""
        out: list[str] = []
        j = 0
        n = len(text)
        while j < n:
            c = text[j]
            if c == "'":
                end = text.find("'", j + 1)
                end = n if end < 0 else end
                out.append(text[j + 1 : end])
                j = end + 1
            elif c == '"':
                j += 1
                while j < n and text[j] != '"':
                    c = text[j]
                    if c == self.escape and j + 1 < n and text[j + 1] in '"$' + self.escape:
                        out.append(text[j + 1])
                        j += 2
                    elif c == "$":
                        value, j = self._var(text, j, env)
                        out.append(value)
                    else:
                        out.append(c)
                        j += 1
                j += 1
            elif c == self.escape and j + 1 < n:
                out.append(text[j + 1])
                j += 2
            elif c == "$":
                value, j = self._var(text, j, env)
                out.append(value)
            else:
                out.append(c)
                j += 1
        return "".join(out)

    def words(self, text: str, env: dict[str, str]) -> list[str]:
        return [self.word(w, env) for w in self.split(text)]

    def _var(self, text: str, j: int, env: dict[str, str]) -> tuple[str, int]:
        """The expansion of the `$...` at text[j]; and where the text goes on."""
        n = len(text)
        if j + 1 >= n:
            return "$", j + 1
        if text[j + 1] == "{":
            end = _closing_brace(text, j + 2)
            if end < 0:
                raise UsageError(f"missing '}}' in {text!r}")
            inner = text[j + 2 : end]
            m = re.match(r"^([a-zA-Z_][a-zA-Z0-9_]*)(?:(:?[-+])(.*))?$", inner, re.S)
            if not m:
                raise UsageError(f"unsupported modifier ({inner}) in substitution")
            name, op, arg = m.group(1), m.group(2), m.group(3)
            value = env.get(name)
            if op:
                arg = self.word(arg or "", env)
                if op == ":-":
                    value = value if value else arg
                elif op == "-":
                    value = value if value is not None else arg
                elif op == ":+":
                    value = arg if value else ""
                elif op == "+":
                    value = arg if value is not None else ""
            return value or "", end + 1
        m = re.match(r"[a-zA-Z_][a-zA-Z0-9_]*", text[j + 1 :])
        if not m:
            return "$", j + 1
        return env.get(m.group(0), ""), j + 1 + m.end()


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for k in range(start, len(text)):
        if text[k] == "{":
            depth += 1
        elif text[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return -1


def key_values(lex: ShellLex, text: str, env: dict[str, str], what: str) -> list[tuple[str, str]]:
    """ENV / LABEL / ARG-style `k=v k2="v 2"` pairs, or the legacy `KEY value with spaces`."""
    words = lex.split(text)
    if not words:
        raise UsageError(f"{what} requires at least one argument")
    if "=" not in lex.word(words[0], {}) or words[0].startswith("="):
        if len(words) < 2:
            raise UsageError(f"{what} must have two arguments")
        key = lex.word(words[0], env)
        value = text.strip()[len(words[0]) :].strip()
        return [(key, lex.word(value, env))]
    out = []
    for w in words:
        key, eq, value = w.partition("=")
        if not eq or not key:
            raise UsageError(
                f"{what} names can not be blank"
                if not key
                else f'Syntax error - can\'t find = in "{w}". Must be of the form: name=value'
            )
        out.append((lex.word(key, env), lex.word(value, env)))
    return out
