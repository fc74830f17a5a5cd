"""Load YAML into pydantic models, reporting every error with its field and line."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)
Path_ = tuple[str | int, ...]


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


def format_errors(file: str | os.PathLike[str], lines: dict[Path_, int], exc: ValidationError,
                  prefix: Path_ = ()) -> list[str]:
    out = []
    for err in exc.errors():
        loc = (*prefix, *err["loc"])
        line = line_of(lines, loc)
        field = ".".join(str(p) for p in loc) or "(document)"
        where = f"{file}:{line}" if line else str(file)
        out.append(f"{where}: {field}: {err['msg']}")
    return out


def validate_file(model: type[Model], path: str | os.PathLike[str]) -> Model:
    """Load and validate a YAML file, raising ConfigError with every error and its line."""
    data, lines = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: (document): expected a mapping at the top level"])
    try:
        return model.model_validate(data, context={"base_dir": Path(path).resolve().parent})
    except ValidationError as exc:
        raise ConfigError(format_errors(path, lines, exc)) from exc
