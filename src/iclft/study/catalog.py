"""The study configs shipped inside the package (src/iclft/configs; `configs/` in a checkout links there): their
names ("quick", "tuning/ft-batch16"), a name or a path to a config file, and copies for editing."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from iclft.errors import UserError

ROOT = Path(__file__).resolve().parent.parent / "configs"


def names() -> list[str]:
    """Every shipped config's name: its path under the configs folder, without `.yaml`."""
    return sorted(p.relative_to(ROOT).with_suffix("").as_posix() for p in ROOT.rglob("*.yaml"))


def describe(name: str, width: int = 100) -> str:
    """The first sentence of a shipped config's header comment, cut to `width` characters."""
    lines = (ROOT / f"{name}.yaml").read_text(encoding="utf-8").splitlines()
    header = " ".join(line.lstrip("#").strip() for line in itertools.takewhile(lambda s: s.startswith("#"), lines))
    sentence = re.split(r"(?<=[a-z0-9)][.?])\s+(?=[A-Z])", header, maxsplit=1)[0]
    return sentence if len(sentence) <= width else sentence[: width - 3].rstrip() + "..."


def _name(arg: str) -> str:
    """'quick', 'quick.yaml' and 'configs/quick.yaml' (the checkout's path) all name the shipped `quick`."""
    return arg.removeprefix("./").removeprefix("configs/").removesuffix(".yaml")


def find(arg: str | Path) -> Path:
    """A study config: an existing file wins, else a shipped config by name; neither is one error line."""
    path = Path(arg).expanduser()
    if path.is_file():
        return path
    name = _name(str(arg))
    if name in names():
        return ROOT / f"{name}.yaml"
    raise UserError(f"{arg}: no such config file and no shipped config of that name; shipped: {', '.join(names())} "
                    "(`iclft configs list`)")


def copy(name: str, dest: str | Path | None = None, force: bool = False) -> Path:
    """Copy the shipped config `name` to `dest` (a file, or a folder to put `<name>.yaml` in; default: the current
    folder); an existing file is kept unless `force`. Returns the file written."""
    if _name(name) not in names():
        raise UserError(f"{name}: not a shipped config; shipped: {', '.join(names())}")
    src = ROOT / f"{_name(name)}.yaml"
    target = Path(dest).expanduser() if dest is not None else Path.cwd()
    if target.is_dir():
        target = target / src.name
    if target.exists() and not force:
        raise UserError(f"{target} exists; pass --force to overwrite it")
    from iclft.io import atomic_open

    with atomic_open(target, "wb") as f:
        f.write(src.read_bytes())
    return target
