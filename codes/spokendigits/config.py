"""Settings as small frozen dataclasses, and the helpers they all share.

Every artifact carries the settings that made it as JSON: `to_dict` and
`from_dict` round-trip exactly, `config_hash` names files so that the same
settings always land in the same place, and `add_arguments` /
`from_arguments` turn a dataclass into command-line flags, so a new setting
is a new field and nothing else. A field whose metadata has `"flatten"` (a
callable naming dataclasses: a model family's own settings) stands for the
fields of those classes, in JSON and on the command line alike.

Both ways in check values alike: a float setting must be finite (JSON and
`float()` both accept NaN and infinities), and a field named `seed` must be
an integer from 0 to `cli.MAX_SEED`, which every random generator accepts.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from . import cli
from .errors import UsageError
from .storage import parse_json

MAX_CONFIG_BYTES = 2**20  # a settings file is a few kB

T = TypeVar("T")


def to_dict(config: Any) -> dict[str, Any]:
    """The dataclass as a plain, JSON-ready dict, flattened fields' own settings in place
    of them."""
    values = dataclasses.asdict(config)
    for field in dataclasses.fields(config):
        if "flatten" in field.metadata:
            values.update(values.pop(field.name))
    return values


def setting_fields(cls: type) -> list[tuple[type, dataclasses.Field]]:
    """`(owner, field)` for every setting of dataclass `cls`: its fields, and in place of a
    flattened one the fields of every class it names (each name once)."""
    found: dict[str, tuple[type, dataclasses.Field]] = {}
    for field in dataclasses.fields(cls):
        owners = field.metadata["flatten"]() if "flatten" in field.metadata else None
        for owner, inner in ([(owner, inner) for owner in owners
                              for inner in dataclasses.fields(owner)] if owners else
                             [(cls, field)]):
            found.setdefault(inner.name, (owner, inner))
    return list(found.values())


def _allowed_types(annotation: Any) -> tuple[type, ...]:
    """The types a JSON value may have for a field annotated `annotation`."""
    allowed = typing.get_args(annotation) if _is_optional(annotation) else (annotation,)
    return (*allowed, int) if float in allowed else allowed  # JSON writes 1.0 as 1


def _check_value(cls: type, name: str, annotation: Any, value: Any) -> Any:
    """`value` for field `name`, JSON lists turned into the tuples the field holds;
    raises UsageError if the type is wrong, a float is not finite or a seed is out of range."""
    if typing.get_origin(annotation) is tuple:  # tuple[int, ...]
        (item,) = {arg for arg in typing.get_args(annotation) if arg is not Ellipsis}
        if isinstance(value, (list, tuple)):
            return tuple(_check_value(cls, name, item, element) for element in value)
        raise UsageError(f"{cls.__name__} setting {name}={value!r} should be a list of "
                         f"{item.__name__}")
    allowed = _allowed_types(annotation)
    # bool is an int to Python, but `true` is no sample rate.
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        names = " or ".join("null" if kind is type(None) else kind.__name__ for kind in allowed)
        raise UsageError(f"{cls.__name__} setting {name}={value!r} should be {names}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{cls.__name__} setting {name}={value!r} should be a finite number")
    if name == "seed" and isinstance(value, int) and not 0 <= value <= cli.MAX_SEED:
        raise UsageError(f"{cls.__name__} setting seed={value!r} should be in 0..{cli.MAX_SEED}")
    return value


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """`typing.get_type_hints`, evaluated once per class (a model's config is read often)."""
    return typing.get_type_hints(cls)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build `cls` from a dict (parsed JSON), rejecting names it does not know and
    values of the wrong type."""
    owners = {field.name: owner for owner, field in setting_fields(cls)}
    unknown = sorted(set(data) - set(owners))
    if unknown:
        raise UsageError(
            f"unknown {cls.__name__} setting(s) {unknown}; valid ones are {sorted(owners)}"
        )
    return cls(**{name: _check_value(owners[name], name,
                                     _type_hints(owners[name])[name], value)
                  for name, value in data.items()})


def read_json_object(path: str | Path, what: str) -> dict[str, Any]:
    """The JSON object in `path`; `what` names the file in errors ("config file")."""
    path = Path(path)
    try:
        data = parse_json(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {path} is a folder; give the path of a .json file") from None
    except PermissionError:
        raise UsageError(f"{what} {path} cannot be read (permission denied)") from None
    except ValueError as error:  # not JSON, too large or too deep
        raise UsageError(f"{what} {path} cannot be read as JSON: {error}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what} {path} must hold a JSON object")
    return data


def load_json_config(cls: type[T], path: str | Path) -> T:
    """Read a config file written as a JSON object of `cls` fields."""
    return from_dict(cls, read_json_object(path, "config file"))


def check_settings(what: str, checks: list[tuple[bool, str]]) -> None:
    """Raise one UsageError naming every failed check: `checks` pairs a condition with
    the message to give when it is False."""
    problems = [message for ok, message in checks if not ok]
    if problems:
        raise UsageError(f"bad {what}: " + "; ".join(problems))


def non_defaults(config: Any) -> dict[str, Any]:
    """The settings of a dataclass that differ from its field defaults, as `to_dict` gives
    them: what a hash should cover, so that a new field with a default renames nothing."""
    values = to_dict(config)
    found = {}
    for field in dataclasses.fields(config):
        if "flatten" in field.metadata:
            found.update(non_defaults(getattr(config, field.name)))
        elif field.default is dataclasses.MISSING or values[field.name] != field.default:
            found[field.name] = values[field.name]
    return found


def config_hash(data: Any, length: int = 8) -> str:
    """A short, stable hex digest of JSON-ready data (key order does not matter)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _is_optional(annotation: Any) -> bool:
    return isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union


def _flag_type(annotation: Any) -> tuple[type, str | None]:
    """The scalar type behind `int`, `int | None`, `Optional[int]`, `tuple[int, ...]`,
    and argparse's `nargs` for it."""
    if _is_optional(annotation):
        (annotation,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) is tuple:
        return typing.get_args(annotation)[0], "+"
    return annotation, None


def _flag_parser(name: str, scalar: type) -> Any:
    """What argparse turns a flag's text into: finite floats, seeds in range (see `cli`)."""
    if scalar is float:
        return cli.finite_float
    return cli.seed if name == "seed" and scalar is int else scalar


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one `--field-name` flag per dataclass field, with `metadata["help"]` and,
    where given, `metadata["choices"]`. Float flags refuse NaN and infinities, `--seed`
    values outside 0..2**32 - 1.

    Flags default to "not given", so `from_arguments` overrides only what the
    user typed and a config file's values stand otherwise.
    """
    groups: dict[type, argparse._ArgumentGroup] = {}
    for owner, field in setting_fields(cls):
        if owner not in groups:
            groups[owner] = parser.add_argument_group(f"{owner.__name__} settings",
                                                      (owner.__doc__ or "").split("\n")[0])
        group = groups[owner]
        flag = "--" + field.name.replace("_", "-")
        scalar, nargs = _flag_type(_type_hints(owner)[field.name])
        help_text = field.metadata.get("help", "")
        if field.default is not None:
            help_text += f" (default: {field.default})"
        if scalar is bool:
            group.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_text)
        else:
            choices = field.metadata.get("choices")
            group.add_argument(flag, dest=field.name, type=_flag_parser(field.name, scalar),
                               default=argparse.SUPPRESS,
                               choices=choices, help=help_text, nargs=nargs,
                               metavar="{" + ",".join(choices) + "}" if choices else scalar.__name__.upper())


def from_arguments(cls: type[T], args: argparse.Namespace, base: T | None = None) -> T:
    """`base` (or the defaults) with every flag the user gave applied on top."""
    given = {field.name: getattr(args, field.name)
             for _, field in setting_fields(cls) if hasattr(args, field.name)}
    given = {name: tuple(value) if isinstance(value, list) else value for name, value in given.items()}
    # Without a base, build afresh: settings resolved from others (a family's default
    # width) must follow the flags, not the defaults of another family.
    return dataclasses.replace(base, **given) if base is not None else cls(**given)
