"""The two locks (issue 7, item 19): `requirements.lock` (runtime: `make run`, the image) and
`requirements-dev.lock` (runtime + test and lint tools) pin exactly what pyproject.toml asks for,
agree with each other, and miss nothing that a pinned package itself requires."""

from __future__ import annotations

import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME = [Requirement(line) for line in PYPROJECT["project"]["dependencies"]]
DEV = [Requirement(line) for line in PYPROJECT["project"]["optional-dependencies"]["dev"]]


def read_lock(name: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        [specifier] = list(requirement.specifier)  # one exact pin per line
        assert specifier.operator == "==" and not requirement.marker and not requirement.extras, line
        assert canonicalize_name(requirement.name) not in pins, f"{line}: pinned twice in {name}"
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def pinned(requirement: Requirement) -> str:
    [specifier] = list(requirement.specifier)
    assert specifier.operator == "==", f"pyproject.toml pins exactly: {requirement}"
    return specifier.version


def closure(roots: list[Requirement]) -> dict[str, set[str]]:
    """Every distribution that `roots` need, through the installed packages' own metadata
    (markers evaluated for this platform and for the extras asked for), with who asked for it."""
    needed: dict[str, set[str]] = {}
    queue = [(requirement, "pyproject.toml") for requirement in roots]
    expanded: set[tuple[str, frozenset[str]]] = set()
    while queue:
        requirement, parent = queue.pop()
        name = canonicalize_name(requirement.name)
        needed.setdefault(name, set()).add(parent)
        key = (name, frozenset(requirement.extras))
        if key in expanded:
            continue
        expanded.add(key)
        try:
            requires = metadata.distribution(requirement.name).requires or []
        except metadata.PackageNotFoundError:
            continue  # reported by the caller: it is not in the lock either
        for line in requires:
            child = Requirement(line)
            extras = {""} | set(requirement.extras)
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in extras):
                queue.append((child, name))
    return needed


@pytest.mark.parametrize(("lock", "roots"), [("requirements.lock", RUNTIME), ("requirements-dev.lock", RUNTIME + DEV)])
def test_every_direct_dependency_is_pinned_at_the_pyproject_version(lock, roots):
    pins = read_lock(lock)
    for requirement in roots:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} (pyproject.toml) is missing from {lock}: run `make lock`"
        assert pins[name] == pinned(requirement), f"{lock} pins {name}=={pins[name]}, pyproject.toml {requirement}"


@pytest.mark.parametrize(("lock", "roots"), [("requirements.lock", RUNTIME), ("requirements-dev.lock", RUNTIME + DEV)])
def test_each_lock_holds_everything_its_packages_require(lock, roots):
    pins = read_lock(lock)
    missing = {name: sorted(parents) for name, parents in closure(roots).items() if name not in pins}
    assert not missing, f"{lock} misses packages that are required (by whom): {missing}; run `make lock`"


def test_the_runtime_lock_holds_no_development_tool():
    pins = read_lock("requirements.lock")
    needed_at_runtime = set(closure(RUNTIME))
    dev_only = {canonicalize_name(requirement.name) for requirement in DEV} - needed_at_runtime
    assert not dev_only & set(pins), f"development tools in requirements.lock: {sorted(dev_only & set(pins))}"
    extra = set(pins) - needed_at_runtime
    assert not extra, f"requirements.lock pins packages nothing at runtime needs: {sorted(extra)}"


def test_the_dev_lock_agrees_with_the_runtime_lock():
    runtime, dev = read_lock("requirements.lock"), read_lock("requirements-dev.lock")
    assert set(runtime) <= set(dev), sorted(set(runtime) - set(dev))
    disagree = {name: (version, dev[name]) for name, version in runtime.items() if dev[name] != version}
    assert not disagree, f"the two locks pin different versions: {disagree}"


def test_the_installed_environment_matches_the_dev_lock():
    """The suite runs on exactly what requirements-dev.lock says (make test installs it)."""
    wrong = {}
    for name, version in read_lock("requirements-dev.lock").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, wrong


def test_make_run_and_the_image_install_the_runtime_lock_only_and_show_progress():
    # `make -n -B run` prints every command `make run` would run on a fresh machine, without running them.
    plan = subprocess.run(["make", "-n", "-B", "run"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    installs = [line for line in plan.splitlines() if "pip install" in line]
    assert any("-r requirements.lock" in line for line in installs), plan
    assert not any("requirements-dev.lock" in line for line in installs), plan
    assert all("--progress-bar on" in line for line in installs), plan  # pip's progress, never 40 s of silence
    assert "==> installing the runtime dependencies" in plan  # says what it installs before it starts
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "-r requirements.lock" in dockerfile
    assert not any("requirements-dev.lock" in line for line in dockerfile.splitlines()
                   if not line.lstrip().startswith("#"))
