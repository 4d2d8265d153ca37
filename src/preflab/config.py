"""Configs: nested dataclasses filled from YAML and ``dotted.key=value`` overrides, validated up front.

Every verb describes its settings as dataclasses; ``build(Schema, yaml_path, overrides)`` reads the
file, applies the overrides (values parsed as YAML: ``train.seed=3``, ``objective.params={beta: 0.2}``),
and checks every key and type before anything loads. An unknown key names the nearest valid one.

>>> from dataclasses import dataclass, field
>>> @dataclass
... class Optim:
...     lr: float = 1e-6
...     betas: tuple = (0.9, 0.999)
>>> @dataclass
... class Run:
...     optim: Optim = field(default_factory=Optim)
...     steps: int = 10
>>> build(Run, None, ["optim.lr=3e-4", "steps=20"])
Run(optim=Optim(lr=0.0003, betas=(0.9, 0.999)), steps=20)
>>> build(Run, None, ["optim.lrr=1"])
Traceback (most recent call last):
...
preflab.config.ConfigError: unknown key 'optim.lrr'; did you mean 'optim.lr'?
"""


import dataclasses
import difflib
import typing
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import yaml

from preflab.errors import PreflabError

__all__ = ["ConfigError", "build", "to_dict", "keys_of"]


class ConfigError(PreflabError, ValueError):
    """A bad config: the message names the key (and the file) and what would be valid."""


def keys_of(schema) -> list[str]:
    """Every dotted key a schema accepts (nested dataclasses flattened)."""
    out = []
    for f in dataclasses.fields(schema):
        sub = _dataclass_type(_hints(schema)[f.name])
        if sub is not None:
            out.extend(f"{f.name}.{k}" for k in keys_of(sub))
        out.append(f.name)
    return out


def build(schema, path: Optional[Union[str, Path]], overrides: Sequence[str] = (), synonyms: Optional[dict] = None):
    """The schema's instance from a YAML file (optional) and ``key=value`` overrides, validated.

    ``synonyms`` maps names users bring from other tools (TRL's ``learning_rate``) to the dotted key an
    unknown-key error should suggest; otherwise the nearest key by spelling is suggested."""
    data: dict = {}
    source = "the command line"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {err}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of keys to values at the top level")
        data = loaded or {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override '{item}' must look like key=value (e.g. train.seed=3)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        _set_dotted(data, key.strip(), value)
    return _from_dict(schema, data, prefix="", source=source, synonyms=synonyms or {})


def to_dict(config) -> dict:
    """A plain dict (tuples as lists), for saving next to a run."""
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(config)


# --------------------------------------------------------------------------------------------------


def _hints(schema) -> dict:
    return typing.get_type_hints(schema)


def _dataclass_type(tp):
    if dataclasses.is_dataclass(tp):
        return tp
    for arg in typing.get_args(tp):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def _set_dotted(data: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = value


def _from_dict(schema, data: dict, prefix: str, source: str, synonyms: dict):
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: '{prefix.rstrip('.')}' must be a mapping of keys, got {data!r}")
    hints = _hints(schema)
    names = {f.name for f in dataclasses.fields(schema)}
    kwargs = {}
    for key, value in data.items():
        full = prefix + str(key)
        if key not in names:
            valid = [prefix + k for k in keys_of(schema)]
            near = [synonyms[key]] if key in synonyms else difflib.get_close_matches(full, valid, n=1, cutoff=0.5)
            hint = f"; did you mean '{near[0]}'?" if near else f" (valid keys here: {', '.join(sorted(names))})"
            raise ConfigError(f"unknown key '{full}'{hint}" + ("" if source == "the command line" else f" (in {source})"))
        sub = _dataclass_type(hints[key])
        if sub is not None and (isinstance(value, dict) or value is None and not _is_optional(hints[key])):
            kwargs[key] = _from_dict(sub, value or {}, full + ".", source, synonyms)
        else:
            kwargs[key] = _coerce(hints[key], value, full, source)
    return schema(**kwargs)


def _is_optional(tp) -> bool:
    return type(None) in typing.get_args(tp)


def _coerce(tp, value, key: str, source: str):
    """Check (and gently convert) a value against a type hint: int -> float, list -> tuple."""
    where = "" if source == "the command line" else f" (in {source})"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key, source)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"'{key}'={value!r} fits none of {tp}{where}")
    if typing.get_origin(tp) is typing.Literal:
        if value not in args:
            raise ConfigError(f"'{key}'={value!r} must be one of {list(args)}{where}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{key}' must be true or false, got {value!r}{where}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"'{key}' must be an integer, got {value!r}{where}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 5e-7 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"'{key}' must be a number, got {value!r}{where}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{key}' must be a string, got {value!r}{where}")
        return value
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{key}' must be a list, got {value!r}{where}")
        inner = args[0] if args else Any
        items = [_coerce(inner, v, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"'{key}' must be a mapping, got {value!r}{where}")
        return dict(value)
    return value
