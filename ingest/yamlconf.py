"""Load YAML into pydantic models, reporting every error with its field and line."""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)
Path_ = tuple[str | int, ...]
KEY_LINE = "\0key"  # lines[(*path, KEY_LINE)]: the line of the key itself (a block value starts below it)


class ConfigError(Exception):
    """Config errors, each one `file:line: field: message`."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


def _construct(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            lines[(*path, key, KEY_LINE)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(child, (*path, i), lines) for i, child in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    # SafeLoader's own constructors give YAML 1.1 scalars the types plain yaml.safe_load gives.
    return yaml.SafeLoader("").construct_object(node, deep=True)


def load_yaml(path: str | os.PathLike[str]) -> tuple[Any, dict[Path_, int]]:
    """The document and a map from each value's path to its line (1-based)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        raise ConfigError([f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from exc
    lines: dict[Path_, int] = {}
    data = _construct(node, (), lines) if node is not None else {}
    return data, lines


def line_of(lines: dict[Path_, int], loc: Path_) -> int | None:
    """The line of a field, or of its nearest parent that is in the file."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside `X`, `X | None`, `list[X]` or `dict[str, X]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, dict, tuple):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _keys_at(model: type[BaseModel] | None, loc: Path_) -> list[str]:
    """The keys the model allows in the mapping at `loc` (list indexes and dict keys are walked through)."""
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int) or part not in model.model_fields:
            continue
        model = _model_in(model.model_fields[part].annotation)
    return list(model.model_fields) if model is not None else []


def located(file: str | os.PathLike[str], lines: dict[Path_, int], loc: Path_, message: str,
            at_key: bool = False) -> str:
    """`file:line: field: message`, the line of `loc` (or of its nearest parent in the file); of its key with
    `at_key`."""
    line = (lines.get((*loc, KEY_LINE)) if at_key else None) or line_of(lines, loc)
    field = ".".join(str(p) for p in loc) or "(document)"
    where = f"{file}:{line}" if line else str(file)
    return f"{where}: {field}: {message}"


def format_errors(file: str | os.PathLike[str], lines: dict[Path_, int], exc: ValidationError,
                  prefix: Path_ = (), model: type[BaseModel] | None = None) -> list[str]:
    out = []
    for err in exc.errors():
        loc = (*prefix, *err["loc"])
        message = err["msg"]
        unknown = err["type"] == "extra_forbidden" and bool(loc)
        if unknown:
            message = f"unknown key {loc[-1]!r}"
            close = difflib.get_close_matches(str(loc[-1]), _keys_at(model, err["loc"][:-1]), n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]!r}?"
        out.append(located(file, lines, loc, message, at_key=unknown))
    return out


def validate_file(model: type[Model], path: str | os.PathLike[str], context: dict[str, Any] | None = None) -> Model:
    """Load and validate a YAML file, raising ConfigError with every error and its line.

    An empty file is an error: it is far more often a failed copy than a wish for every default."""
    data, lines = load_yaml(path)
    if not lines:
        raise ConfigError([f"{path}:1: (document): the file is empty (no keys at all); write at least one key, "
                           "or leave --config out for the defaults"])
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: (document): expected a mapping at the top level"])
    try:
        return model.model_validate(data, context={"base_dir": Path(path).resolve().parent, **(context or {})})
    except ValidationError as exc:
        raise ConfigError(format_errors(path, lines, exc, model=model)) from exc
