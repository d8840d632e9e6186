"""A Spec as TOML text that ``loads_spec`` reads back to an equal Spec (what ``kancc import``
writes next to its checkpoint). Exact numbers are written as the strings "p/q" that
``spec_to_dict`` gives, so nothing is rounded on the way."""

from __future__ import annotations

import json
from typing import Any

from .load import Spec, spec_to_dict


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _table(header: str, table: dict[str, Any]) -> list[str]:
    """``[header]`` with its scalar keys, then its subtables as ``[header.key]``."""
    lines = [header]
    nested = []
    for key, value in table.items():
        if isinstance(value, dict):
            nested.append((key, value))
        else:
            lines.append(f"{key} = {_value(value)}")
    for key, value in nested:
        name = header.strip("[]")
        lines += ["", *_table(f"[{name}.{key}]", value)]
    return lines


def spec_to_toml(spec: Spec) -> str:
    raw = spec_to_dict(spec)
    lines: list[str] = []
    for name, table in raw.items():
        if name == "layers":
            for layer in table:
                lines += [*_table("[[layers]]", layer), ""]
        else:
            lines += [*_table(f"[{name}]", table), ""]
    return "\n".join(lines)
