"""`${VAR}` and `${VAR:-default}` in a study config, expanded from the environment before validation."""

from __future__ import annotations

import os
import re
from typing import Any

from iclft.errors import UserError

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str, where: str) -> str:
    """`${VAR}` and `${VAR:-default}` replaced from the environment (an empty variable counts as unset); an unset
    variable without a default is one error line naming it."""
    def value(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if os.environ.get(name):
            return os.environ[name]
        if default is not None:
            return default
        raise UserError(f"{where}: environment variable {name} is not set (set it, or write ${{{name}:-DEFAULT}})")

    return _ENV.sub(value, text)


def _expanded(value: Any, where: str) -> Any:
    """Every string of a parsed config with its `${VAR}`s expanded (`where`: the key path, for errors)."""
    if isinstance(value, str):
        return expand_env(value, where)
    if isinstance(value, dict):
        return {k: _expanded(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_expanded(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value
