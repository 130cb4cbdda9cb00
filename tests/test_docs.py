"""The README and docs/ stand alone (issue 7, item 20): they never send a reader outside the
repository, every link inside it resolves, and every `ais …` command they name exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
AIS = str(Path(sys.executable).with_name("ais"))
OUTSIDE = ("SPEC.md", "STYLE.md", "../shared", "seeds/")
# `ais jobs` (SPEC §8, §11) arrives with the job queue on procrastinate (issue 9 §1); the runbook
# already names it. Self-expiring: the test fails once it exists, until it is removed from here.
ARRIVING_COMMANDS: set[str] = set()


def doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_docs_never_send_readers_outside_the_repository(doc: Path):
    text = doc.read_text()
    for name in OUTSIDE:
        assert name not in text, f"{doc_id(doc)} mentions {name!r}, which is not in this repository"


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_relative_link_resolves_inside_the_repository(doc: Path):
    for target in re.findall(r"\]\(([^)]+)\)", doc.read_text()):
        if re.match(r"[a-z]+://", target):
            continue  # none today; a web link is fine as long as it is not our own contract
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT), f"{doc_id(doc)} links outside the repository: {target}"
        assert path.exists(), f"{doc_id(doc)} links to a missing file: {target}"


def _help(*args: str) -> str:
    result = subprocess.run([AIS, *args, "--help"], capture_output=True, text=True, timeout=60,
                            env={"COLUMNS": "200", "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _commands(help_text: str) -> set[str]:
    """The command names in a `--help` screen's command list."""
    return set(re.findall(r"^\W*([a-z][a-z-]+)\s{2,}\S", help_text.split("Commands", 1)[-1], re.MULTILINE))


def test_every_ais_command_the_docs_name_exists():
    top = _commands(_help())
    assert {"serve", "worker", "reconcile", "db", "create-admin", "backup", "restore", "seed"} <= top, top
    screens = {name: _help(name) for name in top}
    groups = {name: _commands(screen) for name, screen in screens.items() if "Commands" in screen}
    named: set[tuple[str, ...]] = set()
    for doc in DOCS:
        for span in re.findall(r"`([^`\n]+)`", doc.read_text()) + re.findall(r"```.*?```", doc.read_text(), re.S):
            for match in re.finditer(r"(?:^|[\s(/])ais ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", span):
                named.add((doc_id(doc), *[part for part in match.groups() if part]))
    assert named, "the docs name no ais command at all?"
    for doc_name, command, *rest in sorted(named):
        if command in ARRIVING_COMMANDS:
            assert command not in top, f"`ais {command}` exists now: remove it from ARRIVING_COMMANDS"
            continue
        assert command in top, f"{doc_name} names `ais {command}`, which `ais --help` does not list"
        if command in groups and rest:
            assert rest[0] in groups[command], f"{doc_name} names `ais {command} {rest[0]}`, unknown to `ais {command}`"


def test_the_readme_says_how_to_change_the_port_and_how_to_ask_whether_it_is_up():
    readme = (ROOT / "README.md").read_text()
    opening = readme[: readme.index("## ")]  # the part a new user reads first
    assert 'make run ARGS="--port' in opening and "/health/live" in opening and "/health/ready" in opening
