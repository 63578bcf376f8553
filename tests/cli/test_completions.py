"""Completion scripts: generated from the parser tree, syntax-checked and driven in shells."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cloacinactl.cli.framework import command_tree
from cloacinactl.cli.main import build_parser
from cloacinactl.cli.nouns import NOUNS


def _script(cli: Any, shell: str, tmp_path: Path) -> Path:
    result = cli("completions", shell)
    assert result.returncode == 0, result.stderr
    path = tmp_path / f"cloacinactl.{shell}"
    path.write_text(result.stdout)
    return path


def test_every_noun_and_verb_is_in_every_script(cli: Any) -> None:
    tree = command_tree(build_parser())
    verbs = {c.path[-1] for c in tree.walk() if c.path}
    for shell in ("bash", "zsh", "fish", "powershell"):
        text = cli("completions", shell).stdout
        for word in [*NOUNS, *verbs, "--no-color", "--tenant"]:
            assert word in text, (shell, word)


def test_unknown_shell_is_a_usage_error(cli: Any) -> None:
    result = cli("completions", "tcsh")
    assert result.returncode == 1 and "tcsh" in result.stderr


BASH_DRIVER = """
source "$1"
comp() {
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
    _cloacinactl
    echo "${COMPREPLY[*]}"
}
comp cloacinactl da
comp cloacinactl --home /tmp/x config pro
comp cloacinactl config profile ""
comp cloacinactl config list -o ""
comp cloacinactl completions ""
comp cloacinactl config profile set NAME --de
comp cloacinactl --tenant config ""
"""


def test_bash_script_parses_and_completes(cli: Any, tmp_path: Path) -> None:
    path = _script(cli, "bash", tmp_path)
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    out = subprocess.run(
        ["bash", "-c", BASH_DRIVER, "driver", str(path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "daemon"
    assert lines[1] == "profile"
    assert set(lines[2].split()) == {"set", "list", "use", "delete", "check"}
    assert lines[3].split() == ["table", "json", "yaml", "id"]
    assert lines[4].split() == ["bash", "zsh", "fish", "powershell"]
    assert lines[5] == "--default"
    assert "daemon" in lines[6].split()  # "config" was the value of --tenant


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
def test_fish_script_completes(cli: Any, tmp_path: Path) -> None:
    path = _script(cli, "fish", tmp_path)
    assert subprocess.run(["fish", "-n", str(path)], capture_output=True).returncode == 0
    probe = (
        f"source {path}; complete -C 'cloacinactl da'; echo ==; "
        "complete -C 'cloacinactl -o '; echo ==; complete -C 'cloacinactl config profile u'"
    )
    out = subprocess.run(["fish", "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    first, second, third = out.stdout.split("==\n")
    assert [line.split("\t")[0] for line in first.splitlines()] == ["daemon"]
    assert sorted(second.split()) == ["id", "json", "table", "yaml"]
    assert third.startswith("use\t")


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh_script_parses_and_completes(cli: Any, tmp_path: Path) -> None:
    path = _script(cli, "zsh", tmp_path)
    assert subprocess.run(["zsh", "-n", str(path)], capture_output=True).returncode == 0
    probe = f"""
autoload -Uz compinit && compinit -u -d {tmp_path}/zcompdump
source {path}
print -r -- ${{_comps[cloacinactl]}}
words=(cloacinactl da); CURRENT=2; __cloacinactl_candidates
print -r -- $__cloacinactl_kind ${{(j: :)${{(@)__cloacinactl_cands%%:*}}}}
words=(cloacinactl --home /x config list -o ''); CURRENT=7; __cloacinactl_candidates
print -r -- $__cloacinactl_kind $__cloacinactl_cands
"""
    out = subprocess.run(["zsh", "-f", "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    registered, nouns, output = out.stdout.splitlines()
    assert registered == "_cloacinactl"
    assert nouns.split()[0] == "words" and "daemon" in nouns.split()
    assert output.split() == ["values", "table", "json", "yaml", "id"]


def test_powershell_script_has_the_tables(cli: Any) -> None:
    # No pwsh on this machine: check structure only (see report).
    text = cli("completions", "powershell").stdout
    assert "Register-ArgumentCompleter -Native -CommandName cloacinactl" in text
    assert "'config profile' = @('set', 'list', 'use', 'delete', 'check')" in text
    assert text.count("{") == text.count("}")


@pytest.fixture
def profiled_home(cli: Any, home: Path) -> Path:
    for name in ("prod", "staging"):
        args = ("--server", "http://127.0.0.1:1", "--api-key", "k")
        assert cli("config", "profile", "set", name, *args).returncode == 0
    return home


def _env_with_cli() -> dict[str, str]:
    import os
    import sys

    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def test_bash_completes_profile_names(cli: Any, tmp_path: Path, profiled_home: Path) -> None:
    path = _script(cli, "bash", tmp_path)
    driver = BASH_DRIVER.split("comp cloacinactl da")[0] + (
        f'comp cloacinactl --home {profiled_home} --profile ""\n'
        f"comp cloacinactl --home={profiled_home} config profile use st\n"
    )
    out = subprocess.run(
        ["bash", "-c", driver, "driver", str(path)],
        capture_output=True,
        text=True,
        env=_env_with_cli(),
    )
    assert out.stdout.splitlines() == ["prod staging", "staging"], out.stderr


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
def test_fish_completes_profile_names(cli: Any, tmp_path: Path, profiled_home: Path) -> None:
    path = _script(cli, "fish", tmp_path)
    probe = f"source {path}; complete -C 'cloacinactl --home {profiled_home} --profile '"
    out = subprocess.run(["fish", "-c", probe], capture_output=True, text=True, env=_env_with_cli())
    assert out.stdout.split() == ["prod", "staging"], out.stderr


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh_completes_profile_names(cli: Any, tmp_path: Path, profiled_home: Path) -> None:
    path = _script(cli, "zsh", tmp_path)
    probe = f"""
source {path}
words=(cloacinactl --home {profiled_home} config profile delete ''); CURRENT=7
__cloacinactl_candidates
print -r -- $__cloacinactl_kind ${{__cloacinactl_cands[-2]}} ${{__cloacinactl_cands[-1]}}
"""
    out = subprocess.run(
        ["zsh", "-f", "-c", probe], capture_output=True, text=True, env=_env_with_cli()
    )
    assert out.stdout.split() == ["words", "prod", "staging"], out.stderr


ZSH_INIT = """
PROMPT=''
autoload -Uz compinit && compinit -u -d {dump}
source {script}
# Record what the real completion system offers, then let it carry on.
compadd() {{
    if (( ${{@[(I)-[OAD]]}} )); then builtin compadd "$@"; return; fi
    local -a hits
    builtin compadd -O hits "$@"
    print -rl -- $hits >> {out}
    builtin compadd "$@"
}}
__probe_done() {{ print -r -- DONE >> {out}; exit }}
comppostfuncs=(__probe_done)
bindkey '^I' complete-word
print READY
"""

ZSH_DRIVER = """
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'source {init}'
zpty -r z line '*READY*'
zpty -w -n z {line}$'\\t'
for i in {{1..200}}; do
    [[ -f {out} ]] && grep -q DONE {out} && break
    sleep 0.05
done
zpty -d z
cat {out}
"""


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("cloacinactl da", ["daemon"]),
        ("cloacinactl config pro", ["profile"]),
        ("cloacinactl --home /tmp config list -o j", ["json"]),
    ],
)
def test_zsh_interactive_tab_completion(
    cli: Any, tmp_path: Path, line: str, expected: list[str]
) -> None:
    """Drive a real interactive zsh on a pseudo-terminal (zpty) and press TAB."""
    import shlex

    script = _script(cli, "zsh", tmp_path)
    out = tmp_path / "offered"
    init = tmp_path / "init.zsh"
    init.write_text(ZSH_INIT.format(dump=tmp_path / "dump", script=script, out=out))
    driver = ZSH_DRIVER.format(init=init, out=out, line=shlex.quote(line))
    result = subprocess.run(
        ["zsh", "-f", "-c", driver],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env_with_cli(),
    )
    offered = result.stdout.split()
    assert offered[-1:] == ["DONE"], result.stderr
    assert offered[:-1] == expected
