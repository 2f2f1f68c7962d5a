"""Load the TOML config and turn every validation error into a line an installer can act on.

Each problem names four things: the key path, the bad value, the TOML line where it can be
found, and the fix. ``check-config`` and ``run`` share this loader and its exit code (78).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from lepton.edge.config.models import LeptonConfig
from lepton.edge.config_path import BASE_DIR_CONTEXT
from lepton.edge.errors import ConfigError
from lepton.edge.shipped_files import config_example_hint

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (JetPack 6)
    import tomli as tomllib


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    message: str
    fix: str
    value: Any = None
    line: int | None = None

    def render(self, source: Path) -> str:
        where = f"{source}:{self.line}" if self.line else str(source)
        shown = "" if self.value is None else f" (got {_short(self.value)})"
        return f"{where}: {self.key}: {self.message}{shown}; {self.fix}"


class ConfigProblemsError(ConfigError):
    """All problems of one config file; the message has one line per problem."""

    def __init__(self, source: Path, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(p.render(source) for p in problems))


_SECRET_NAME = re.compile(r"pass|secret|token|credential|private|api_?key|^key$", re.IGNORECASE)
"""A key named like a secret: its value is never shown in an error (errors go to the journal)."""


def names_a_secret(loc: tuple[Any, ...]) -> bool:
    return any(isinstance(part, str) and _SECRET_NAME.search(part) for part in loc)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")


def _line_index(text: str) -> dict[str, int]:
    """Map dotted key paths (``sources.0.path``) to 1-based line numbers, for messages."""
    index: dict[str, int] = {}
    table: list[str] = []
    array_counts: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            name = header.group(2).replace('"', "")
            if header.group(1) == "[[":
                count = array_counts.get(name, -1) + 1
                array_counts[name] = count
                table = [*name.split("."), str(count)]
            else:
                parts = name.split(".")
                # a sub-table of the latest array element, e.g. [sources.tls] after [[sources]]
                if parts[0] in array_counts:
                    parts.insert(1, str(array_counts[parts[0]]))
                table = parts
            index.setdefault(".".join(table), number)
            continue
        key = _KEY.match(line)
        if key:
            index.setdefault(".".join([*table, key.group(1)]), number)
    return index


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model owning the last element of ``loc`` (for listing valid keys)."""
    model: Any = LeptonConfig
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        fields = getattr(model, "model_fields", {})
        if part in fields:
            annotation = fields[part].annotation
            model = _first_model(annotation)
        else:
            # a discriminated-union member name such as 'file' in ('sources', 0, 'file', 'x')
            model = _union_member(model, part)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _first_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:
        return _first_model(annotation.__origin__)
    return None


def _union_member(model: Any, kind: str) -> Any:
    from lepton.edge.sources.configs import CameraSourceConfig, FileSourceConfig, ImageFolderSourceConfig

    members = {"file": FileSourceConfig, "images": ImageFolderSourceConfig, "camera": CameraSourceConfig}
    return members.get(kind, model)


def _fix_for(error: Any, loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc)
        valid = sorted(model.model_fields) if model else []
        hint = f"valid keys here: {', '.join(valid)}" if valid else "check the spelling"
        if names_a_secret(loc[-1:]):
            return (
                f"remove it: a secret never goes in the config text; put it in a file named by a *_file key "
                f"or a systemd credential ({hint})"
            )
        return f"remove it or fix the spelling ({hint})"
    if kind == "missing":
        return f"add this key ({config_example_hint()})"
    if kind == "union_tag_invalid":
        return f"set kind to one of {error.get('ctx', {}).get('expected_tags', '')}"
    if kind == "union_tag_not_found":
        return 'add kind = "file", "images" or "camera"'
    if kind == "literal_error":
        return f"use one of {error.get('ctx', {}).get('expected', '')}"
    return f"correct the value ({config_example_hint()})"


def _to_problems(err: ValidationError, lines: dict[str, int]) -> list[ConfigProblem]:
    problems = []
    errors = err.errors()
    failed_locs = [tuple(e["loc"]) for e in errors]
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "too_short" and any(f[: len(loc)] == loc and f != loc for f in failed_locs):
            continue  # "needs at least 1 item" only because an item itself was invalid
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "kind")
        # Drop discriminator member names from the displayed path: sources.0.file.path → sources.0.path
        shown = tuple(p for p in loc if p not in ("file", "images", "camera") or p == loc[-1])
        key = ".".join(str(p) for p in shown) or "(root)"
        line = None
        for depth in range(len(shown), 0, -1):
            line = lines.get(".".join(str(p) for p in shown[:depth]))
            if line:
                break
        value = None if error["type"] == "missing" else error.get("input")
        if isinstance(value, (dict, list)) or names_a_secret(loc):
            value = None  # a table shows nothing useful; a secret is never echoed
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(ConfigProblem(key, message, _fix_for(error, loc), value, line))
    return problems


def load_config(path: Path) -> LeptonConfig:
    """Read and validate a config file; raise ``ConfigProblemsError`` naming every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigProblemsError(
            path,
            [
                ConfigProblem(
                    "(file)", "config file not found", "pass the path of an existing TOML file with --config"
                )
            ],
        ) from None
    except OSError as err:
        raise ConfigProblemsError(
            path,
            [
                ConfigProblem(
                    "(file)", f"cannot read config ({err.strerror})", "make it readable by the lepton user"
                )
            ],
        ) from err
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        line = getattr(err, "lineno", None)
        raise ConfigProblemsError(
            path, [ConfigProblem("(syntax)", f"not valid TOML: {err}", "fix the TOML syntax", None, line)]
        ) from err
    try:
        return LeptonConfig.model_validate(data, context={BASE_DIR_CONTEXT: path.parent.resolve()})
    except ValidationError as err:
        raise ConfigProblemsError(path, _to_problems(err, _line_index(text))) from err


__all__ = ["ConfigProblem", "ConfigProblemsError", "load_config"]
