"""Atomic writes of files and folders (with the modes the umask gives), and validated JSONL reading."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

from iclft.errors import UserError

M = TypeVar("M", bound=BaseModel)


def umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _chmod_as_created(path: Path, mask: int) -> None:
    """Give `path` the mode a plain open()/mkdir() would have: 0666 (0777 for folders and executables) less the
    umask. tempfile creates 0600 files and 0700 folders, which would keep a shared report or cache private."""
    executable = path.is_dir() or os.stat(path).st_mode & 0o100
    os.chmod(path, (0o777 if executable else 0o666) & ~mask)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temporary file beside `path`, then rename it into place; nothing half-written is left. The file
    gets the umask's mode (0644 under umask 0022)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _writer() -> str:
    """This process as a temporary folder names it: pid and a hash of the host name (folders on a shared file
    system may belong to another machine's processes, whose pids mean nothing here)."""
    return f"{os.getpid()}.{hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]}"


def _remove_stale(path: Path) -> None:
    """Remove temporary folders of `path` left by killed processes of this machine (their pid is gone)."""
    prefix = f".{path.name}."
    host = _writer().split(".")[1]
    for tmp in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        pid, _, rest = tmp.name[len(prefix):].partition(".")
        if not rest.startswith(f"{host}.") or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:  # a live process of another user
            pass


@contextmanager
def atomic_dir(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `path` to fill; then give it and everything in it the umask's modes and
    rename it into place, so `path` is either absent or complete. An existing `path` is replaced when `overwrite`,
    else kept (another process finished the same folder first). Leftovers of killed writers are removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.{_writer()}.", suffix=".tmp"))
    try:
        yield tmp
        mask = umask()
        for root, dirs, files in os.walk(tmp):
            for name in dirs + files:
                if not (Path(root) / name).is_symlink():
                    _chmod_as_created(Path(root) / name, mask)
        _chmod_as_created(tmp, mask)
        if overwrite and path.exists():
            shutil.rmtree(path)
        try:
            os.replace(tmp, path)
        except OSError:
            if not path.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def dumps(obj: Any) -> str:
    """Canonical one-line JSON (stable key order, so the same data gives the same bytes)."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_open(path) as f:
        f.write(json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> None:
    """Write rows (dicts or pydantic models) as JSONL, atomically."""
    with atomic_open(path) as f:
        for row in rows:
            if isinstance(row, BaseModel):
                row = row.model_dump(mode="json", exclude_none=True)
            f.write(dumps(row) + "\n")


def _not_utf8(where: str, data: bytes, e: UnicodeDecodeError) -> UserError:
    column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
    return UserError(f"{where}: not UTF-8 text (byte 0x{data[e.start]:02x} at column {column})")


def read_text(path: str | Path, what: str = "file") -> str:
    """A user's UTF-8 text file; missing or undecodable is a UserError naming the file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise _not_utf8(f"{path}:{line}", data, e) from None


def parse_json(text: str, where: str | Path) -> Any:
    """A JSON document; malformed JSON is a UserError naming `where`, the line and the column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{where}: invalid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None


def read_json(path: str | Path) -> Any:
    path = Path(path)
    return parse_json(read_text(path), path)


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; malformed lines are a UserError naming the line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _not_utf8(f"{path}:{n}", raw, e) from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{n}: invalid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise UserError(f"{path}:{n}: expected a JSON object, got {type(obj).__name__}")
            yield n, obj


def describe_validation_error(e: ValidationError, prefix: str = "", name: Callable[[str], str] | None = None) -> str:
    """Pydantic's first error as one phrase, 'where: message (got value)' or 'where: unknown key 'k''; the one
    formatter of validation errors. `prefix` leads the location (e.g. 'conditions.ft'); `name` renames its first
    field (e.g. to a command-line option)."""
    err = e.errors()[0]
    loc = [str(p) for p in err["loc"]]
    if name is not None and loc:
        loc[0] = name(loc[0])
    if err["type"] == "extra_forbidden":
        where = ".".join(p for p in (prefix, *loc[:-1]) if p)
        return f"{where + ': ' if where else ''}unknown key {loc[-1]!r}"
    msg = err["msg"].removeprefix("Value error, ")
    if "input" in err and err["type"] != "missing" and not isinstance(err["input"], (dict, list)):
        msg += f" (got {err['input']!r})"
    where = ".".join(p for p in (prefix, *loc) if p)
    return f"{where}: {msg}" if where else msg


def check_unique_ids(rows: Iterable[Any], where: str | Path, what: str = "id") -> None:
    """UserError naming the first id that occurs twice among `rows` (objects with an `id`)."""
    seen: set[str] = set()
    for row in rows:
        if row.id in seen:
            raise UserError(f"{where}: duplicate {what} {row.id!r}")
        seen.add(row.id)


def read_models(path: str | Path, model: type[M]) -> list[M]:
    """Read a JSONL file of `model` rows, failing with one line naming file, line and field."""
    rows = []
    for n, obj in iter_jsonl(path):
        try:
            rows.append(model.model_validate(obj))
        except ValidationError as e:
            raise UserError(f"{path}:{n}: {describe_validation_error(e)}") from None
    return rows
