"""`tuidock completion bash|zsh`: shell completion generated from the real argparse tree.

The script holds the command tree (subcommands, flags, which flags take a
value, what each positional names) as tables built from build_parser(), so it
cannot drift from the CLI. Names of containers, images, networks and volumes
are asked for at completion time with the hidden `tuidock __complete KIND`,
which reads the stores directly (no parser, no engine) to stay fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from tuidock.errors import UsageError

SHELLS = ("bash", "zsh")
KINDS = ("containers", "images", "networks", "volumes")
ROOT = "tuidock"

# What a positional argument or an option value names, by its metavar or dest.
_KIND_OF = {
    "CONTAINER": "containers",
    "CONTAINERS": "containers",
    "IMAGE": "images",
    "IMAGES": "images",
    "SOURCE_IMAGE[:TAG]": "images",
    "NETWORK": "networks",
    "VOLUME": "volumes",
    "NAME": "containers images",  # `inspect`: either
    "SRC": "files",  # cp: a local path (or CONTAINER:PATH, typed by hand)
    "DEST": "files",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "completion",
        help="Print a shell completion script (bash or zsh)",
        description="Print a completion script. Bash: add `source <(tuidock completion bash)` "
        'to ~/.bashrc. Zsh: `tuidock completion zsh > "${fpath[1]}/_tuidock"`, '
        "then start a new shell.",
    )
    p.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash or zsh")
    p.set_defaults(handler=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    from tuidock.cli.main import build_parser

    tables = command_tables(build_parser())
    sys.stdout.write(bash_script(tables) if args.shell == "bash" else zsh_script(tables))
    return 0


# -- the command tree -----------------------------------------------------------------------------


class Tables:
    """Per command path ("tuidock", "tuidock image ls"): what completes there."""

    def __init__(self) -> None:
        self.subs: dict[str, list[str]] = {}
        self.opts: dict[str, list[str]] = {}
        self.valopts: dict[str, list[str]] = {}
        self.optargs: dict[str, str] = {}  # "path --flag" -> kind of its value
        self.args: dict[str, str] = {}  # path -> kinds of positionals, "+" = last repeats


def _kind(action: argparse.Action) -> str:
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        return "=" + ",".join(str(c) for c in action.choices)
    for key in (action.metavar, str(action.dest).upper()):
        if isinstance(key, str) and key in _KIND_OF:
            return _KIND_OF[key].replace(" ", "|")
    return "files" if action.dest in ("file", "input", "output") else "-"


def command_tables(parser: argparse.ArgumentParser) -> Tables:
    tables = Tables()
    _walk(parser, ROOT, tables)
    return tables


def _walk(parser: argparse.ArgumentParser, path: str, tables: Tables) -> None:
    populate = getattr(parser, "_populate", None)
    if populate is not None:
        populate()  # cli/lazy.py: arguments are added only when asked for
    opts, valopts, kinds = [], [], []
    repeats = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            names = [n for n in action.choices if not n.startswith("_")]
            tables.subs[path] = names
            for name in names:
                _walk(action.choices[name], f"{path} {name}", tables)
        elif action.option_strings:
            opts += action.option_strings
            if action.nargs != 0:
                valopts += action.option_strings
                kind = _kind(action)
                for flag in action.option_strings:
                    tables.optargs[f"{path} {flag}"] = kind
        else:
            kinds.append(_kind(action))
            repeats = action.nargs in ("+", "*", argparse.REMAINDER)
    tables.opts[path] = opts
    tables.valopts[path] = valopts
    if kinds:
        tables.args[path] = " ".join(kinds) + ("+" if repeats else "")


def _pairs(table: dict, join: bool = True) -> str:
    """Entries of a shell associative array, as `key value` word pairs."""
    out = []
    for key, value in table.items():
        text = " ".join(value) if join and isinstance(value, list) else value
        out.append(f"    {_quote(key)} {_quote(text)}")
    return "\n".join(out)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _assoc_bash(name: str, table: dict) -> str:
    body = "\n".join(
        f"{name}[{_quote(k)}]={_quote(' '.join(v) if isinstance(v, list) else v)}"
        for k, v in table.items()
    )
    return f"declare -gA {name}=()\n{body}\n"


def _tables_text(tables: Tables, assoc) -> str:
    return "".join(
        assoc(f"__tuidock_{name}", getattr(tables, name))
        for name in ("subs", "opts", "valopts", "optargs", "args")
    )


# The walk over the words typed so far is the same in both shells: it finds
# the command path, counts positionals, and notes a flag waiting for its value.
_WALK = r"""    for ((i = FIRST; i < CWORD; i++)); do
        w="${WORDS[i]}"
        if ((skip)); then skip=0; continue; fi
        case "$w" in
            --*=*) continue ;;
            -*) [[ " ${__tuidock_valopts[$cmdpath]} " == *" $w "* ]] && skip=1; continue ;;
        esac
        if ((npos == 0)) && [[ " ${__tuidock_subs[$cmdpath]} " == *" $w "* ]]; then
            cmdpath="$cmdpath $w"
        else
            npos=$((npos + 1))
        fi
    done"""

_BASH = r"""# bash completion for tuidock (generated by `tuidock completion bash`)
# Install: add `source <(tuidock completion bash)` to ~/.bashrc
TABLES
__tuidock_kind_words() {
    # $1: a kind (containers|images, =a,b, files, -); prints candidate words
    local k
    case "$1" in
        =*) local c="${1#=}"; printf '%s\n' ${c//,/ } ;;
        files|-) ;;
        *) for k in ${1//|/ }; do "$__tuidock_cmd" __complete "$k" 2>/dev/null; done ;;
    esac
}

_tuidock() {
    local -a words
    if [[ -n "${COMP_LINE-}" ]]; then
        # Split at blanks only: image references hold colons (host:5000/name:tag),
        # which bash's COMP_WORDS splits at.
        local line="${COMP_LINE:0:COMP_POINT}"
        read -r -a words <<< "$line"
        [[ -z "$line" || "$line" =~ [[:space:]]$ ]] && words+=("")
    else
        words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
    fi
    local cword=$((${#words[@]} - 1))
    local cur="${words[cword]}" prev="${words[cword-1]}"
    local cmdpath=tuidock w i skip=0 npos=0 kind
    __tuidock_cmd="${words[0]}"
WALK
    COMPREPLY=()
    if ((skip)); then
        kind="${__tuidock_optargs[$cmdpath $prev]:-files}"
    elif [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "${__tuidock_opts[$cmdpath]}" -- "$cur"))
        return 0
    elif ((npos == 0)) && [[ -n "${__tuidock_subs[$cmdpath]}" ]]; then
        COMPREPLY=($(compgen -W "${__tuidock_subs[$cmdpath]}" -- "$cur"))
        return 0
    else
        local spec="${__tuidock_args[$cmdpath]}" kinds
        read -r -a kinds <<< "${spec%+}"
        if ((npos < ${#kinds[@]})); then
            kind="${kinds[npos]}"
        elif [[ "$spec" == *+ ]]; then
            kind="${kinds[${#kinds[@]}-1]}"
        else
            kind=-
        fi
    fi
    if [[ "$kind" == files ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$(__tuidock_kind_words "$kind")" -- "$cur"))
    fi
    if [[ "$cur" == *:* && "${COMP_WORDBREAKS-:}" == *:* ]]; then
        # bash replaces only the part after the last colon: drop what precedes it.
        local before="${cur%"${cur##*:}"}"
        COMPREPLY=("${COMPREPLY[@]#"$before"}")
    fi
    return 0
}

complete -F _tuidock tuidock
"""

_ZSH = r"""#compdef tuidock
# zsh completion for tuidock (generated by `tuidock completion zsh`)
# Install: tuidock completion zsh > "${fpath[1]}/_tuidock", then start a new shell.
TABLES
__tuidock_kind_words() {
    local k
    case "$1" in
        '='*) print -l -- ${(s:,:)${1#=}} ;;  # quoted: =word is a command path in zsh
        files|-) ;;
        *) for k in ${(s:|:)1}; do "$__tuidock_cmd" __complete "$k" 2>/dev/null; done ;;
    esac
}

# Sets reply (candidates) and __tuidock_kind ("opts", "subs", or a kind) from
# $words and $CURRENT, as the completion system provides them.
__tuidock_candidates() {
    local cur="${words[CURRENT]}" prev="${words[CURRENT-1]}"
    local cmdpath=tuidock w i skip=0 npos=0 spec
    local -a kinds
    __tuidock_cmd="${words[1]}"
WALK
    reply=()
    if ((skip)); then
        __tuidock_kind="${__tuidock_optargs[$cmdpath $prev]:-files}"
    elif [[ "$cur" == -* ]]; then
        __tuidock_kind=opts
        reply=(${=__tuidock_opts[$cmdpath]})
        return
    elif ((npos == 0)) && [[ -n "${__tuidock_subs[$cmdpath]}" ]]; then
        __tuidock_kind=subs
        reply=(${=__tuidock_subs[$cmdpath]})
        return
    else
        spec="${__tuidock_args[$cmdpath]}"
        kinds=(${=${spec%+}})
        if ((npos < ${#kinds})); then
            __tuidock_kind="${kinds[npos+1]}"
        elif [[ "$spec" == *+ ]]; then
            __tuidock_kind="${kinds[-1]}"
        else
            __tuidock_kind=-
        fi
    fi
    [[ "$__tuidock_kind" == files ]] || reply=(${(f)"$(__tuidock_kind_words "$__tuidock_kind")"})
}

_tuidock() {
    local -a reply
    local __tuidock_kind __tuidock_cmd
    __tuidock_candidates
    if [[ "$__tuidock_kind" == files ]]; then
        _files
    else
        compadd -- "${reply[@]}"
    fi
}

if [[ "$funcstack[1]" == _tuidock ]]; then
    _tuidock "$@"
else
    compdef _tuidock tuidock
fi
"""


def _assoc_zsh(name: str, table: dict) -> str:
    return f"typeset -gA {name}\n{name}=(\n{_pairs(table)}\n)\n"


def _walk_text(words: str, first: int, cword: str) -> str:
    return _WALK.replace("WORDS", words).replace("FIRST", str(first)).replace("CWORD", cword)


def bash_script(tables: Tables) -> str:
    text = _BASH.replace("WALK", _walk_text("words", 1, "cword"))
    return text.replace("TABLES", _tables_text(tables, _assoc_bash))


def zsh_script(tables: Tables) -> str:
    # zsh arrays start at 1: the command is words[1], its first argument words[2].
    text = _ZSH.replace("WALK", _walk_text("words", 2, "CURRENT"))
    return text.replace("TABLES", _tables_text(tables, _assoc_zsh))


# -- `tuidock __complete KIND`: names from the stores ---------------------------------------------


def complete_main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in KINDS:
        raise UsageError(
            f"__complete needs one of {', '.join(KINDS)}", "It is used by the completion scripts."
        )
    from tuidock.runtime.store.execs import data_root

    names = _NAMERS[argv[0]](data_root())
    if names:
        sys.stdout.write("\n".join(sorted(set(names))) + "\n")
    return 0


def _read_json(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _entries(path: str) -> list[os.DirEntry]:
    try:
        return list(os.scandir(path))
    except OSError:
        return []


def container_names(root: str) -> list[str]:
    from tuidock.runtime.store import ctrlayout

    out = []
    for e in _entries(ctrlayout.containers_dir(root)):
        name = str(_read_json(ctrlayout.ContainerDir(e.path).config).get("Name", "")).lstrip("/")
        if name:
            out.append(name)
    return out


def image_names(root: str) -> list[str]:
    from tuidock.core import reference
    from tuidock.errors import TuidockError

    out = []
    for rec in (_read_json(os.path.join(root, "images.json")).get("images") or {}).values():
        for tag in rec.get("repo_tags") or []:
            try:
                out.append(reference.parse(tag).familiar())
            except TuidockError:
                out.append(tag)
    return out


def network_names(root: str) -> list[str]:
    out = ["bridge", "host", "none"]
    for e in _entries(os.path.join(root, "networks")):
        if e.name.startswith("net-") and e.name.endswith(".json"):
            out.append(e.name[len("net-") : -len(".json")])
    return out


def volume_names(root: str) -> list[str]:
    vdir = os.path.join(root, "volumes")
    return [e.name for e in _entries(vdir) if os.path.isfile(os.path.join(e.path, "volume.json"))]


_NAMERS = {
    "containers": container_names,
    "images": image_names,
    "networks": network_names,
    "volumes": volume_names,
}
