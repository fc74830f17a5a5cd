"""docs/config.md, written from the pydantic models themselves, so the reference cannot drift from the code.

`python -m edge.config_reference > docs/config.md` rewrites it; tests/config/test_reference.py checks it matches."""

from __future__ import annotations

import enum
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

SIGNS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "pattern": "matches"}
DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin in (list, tuple, dict):
        inner = ", ".join(_type_name(a) for a in typing.get_args(annotation) if a is not Ellipsis)
        return f"{origin.__name__}[{inner}]"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    return getattr(annotation, "__name__", str(annotation))


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, Path):
        value = str(value)
    return f"`{value!r}`" if not isinstance(value, str) else f"`{value}`"


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """`root` and every model under it, each once, in the order a reader meets them."""
    out: list[type[BaseModel]] = []

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in out:
                out.append(annotation)
                for field in annotation.model_fields.values():
                    walk(field.annotation)
            return
        for arg in typing.get_args(annotation):
            walk(arg)

    walk(root)
    return out


def _table(model: type[BaseModel]) -> list[str]:
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    lines = [f"### {model.__name__}", ""]
    if doc and not doc.startswith(("Usage docs", "A base class")):
        lines += [doc, ""]
    lines += ["| key | type | default | what it is |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        bounds = [f"{SIGNS[key]} `{getattr(m, key)}`".replace("|", "\\|") for m in field.metadata for key in SIGNS
                  if getattr(m, key, None) is not None]
        what = (field.description or "").replace("\n", " ").replace("|", "\\|")
        if bounds:
            what = f"{what} ({', '.join(bounds)})".strip()
        lines.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {what} |")
    return [*lines, ""]


def render() -> str:
    from dispatch.config import DispatchConfig
    from edge.config import EdgeConfig
    from ingest.registry import Registry

    parts = ["# Configuration reference", "",
             "Written from the config models by `python -m edge.config_reference > docs/config.md`; a test "
             "fails when it is out of date. Unknown keys are errors (with a \"did you mean\"); "
             "`gridwatch check FILE` validates a file and names each error's line. Secrets are never written "
             "here: a `*_env` key names the environment variable (or `/run/secrets/<name>`) that holds them.", ""]
    seen: set[type[BaseModel]] = set()
    for title, root in (("Edge worker (edge.yaml)", EdgeConfig), ("Dispatch endpoint (dispatch.yaml)", DispatchConfig),
                        ("Registry (registry.yaml)", Registry)):
        parts += [f"## {title}", ""]
        for model in _models(root):
            if model not in seen:
                seen.add(model)
                parts += _table(model)
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
