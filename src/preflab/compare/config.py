"""The settings of ``preflab compare``: which task and model, which methods (each with its params), which seeds,
how many rounds, where the runs go, and every shared online setting (``prompts_per_round``, ``lr``,
``eval_samples``, ``sft_steps``, ...), which pass through to :class:`preflab.online.OnlineConfig` unchanged.

A method entry is an online method's name, or a mapping ``{name: label, method: <online method>, params: {...}}``
so that one online method can appear several times with different parameters:

>>> from preflab.config import build
>>> cfg = build(CompareConfig, None, ["methods=[inpo, {name: mnpo_h3, method: mnpo, params: {history: 3}}]",
...                                   "seeds=2", "lr=0.002"])
>>> [(m.label, m.method, m.params) for m in method_entries(cfg)], seed_list(cfg), cfg.lr
([('inpo', 'inpo', {}), ('mnpo_h3', 'mnpo', {'history': 3})], [0, 1], 0.002)
>>> build(CompareConfig, None, ["prompts_per_rond=8"])
Traceback (most recent call last):
...
preflab.config.ConfigError: unknown key 'prompts_per_rond'; did you mean 'prompts_per_round'?
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Union

from preflab.config import ConfigError
from preflab.online import OnlineConfig, get_method

__all__ = ["CompareConfig", "ArenaSettings", "StatsSettings", "MethodEntry", "method_entries", "seed_list",
           "run_dir", "online_settings", "SHARED_KEYS", "DEFAULT_METHODS"]

DEFAULT_METHODS = ["iterative_dpo", "sppo", "inpo", "mnpo", "online_ipo", "nash_md"]

# OnlineConfig fields that compare sets itself, per run; every other field is a shared setting
_PER_RUN = ("task", "methods", "rounds", "params", "start_from", "output_dir", "seed", "progress")


@dataclass
class ArenaSettings:
    """The final arena: ``samples`` completions per task prompt from every final policy and SFT policy (default:
    ``eval_samples``), drawn with the same ``seed`` for all."""

    enabled: bool = True                        # false: no arena (e.g. a sweep that needs only each run's metrics)
    samples: Optional[int] = None
    seed: int = 20250
    temperature: Optional[float] = None         # default: the runs' temperature


@dataclass
class StatsSettings:
    """Percentile-bootstrap intervals over seeds: ``resamples`` draws at ``level``, seeded."""

    resamples: int = 10000
    level: float = 0.95
    seed: int = 0


@dataclass
class _Own:
    name: str = "compare"                       # the run folder's name: runs/compare/<name>
    output_dir: Optional[str] = None            # default runs/compare/<name>
    task: str = "heterogeneous"                 # a preflab.tasks name
    model: Optional[str] = None                 # the task's policy model: None (the task's own), "tiny" (word
                                                # tasks' tiny Llama) or "smollm2" (task instructions)
    methods: list = field(default_factory=lambda: list(DEFAULT_METHODS))   # names or {name, method, params}
    seeds: Union[List[int], int] = field(default_factory=lambda: [0, 1, 2, 3, 4])   # a list, or n for 0..n-1
    rounds: int = 3
    params: dict = field(default_factory=dict)  # OnlineConfig.params shared by every run ("*": all methods)
    workers: Optional[int] = None               # parallel local processes (default: os.cpu_count())
    ray: Optional[str] = None                   # run on Ray: "auto" (the running cluster, else a local one),
                                                # "local" (start one here) or an address (ray://host:10001)
    arena: ArenaSettings = field(default_factory=ArenaSettings)
    stats: StatsSettings = field(default_factory=StatsSettings)


def _shared_fields() -> list:
    """(name, type, field) for every OnlineConfig setting compare passes through, with OnlineConfig's default."""
    hints = typing.get_type_hints(OnlineConfig)
    out = []
    for f in dataclasses.fields(OnlineConfig):
        if f.name in _PER_RUN:
            continue
        default = (field(default=f.default) if f.default is not dataclasses.MISSING
                   else field(default_factory=f.default_factory))
        out.append((f.name, hints[f.name], default))
    return out


SHARED_KEYS = tuple(name for name, _, _ in _shared_fields())

CompareConfig = dataclasses.make_dataclass("CompareConfig", _shared_fields(), bases=(_Own,),
                                           namespace={"__module__": __name__})
CompareConfig.__doc__ = (
    "Settings of ``preflab compare``. Its own keys: " + ", ".join(f.name for f in dataclasses.fields(_Own))
    + "; shared online keys (passed to every run's OnlineConfig): " + ", ".join(SHARED_KEYS) + ".")


@dataclass(frozen=True)
class MethodEntry:
    """One compared method: ``label`` (its name in results and folders), the online ``method`` and its params."""

    label: str
    method: str
    params: dict


_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_ENTRY_KEYS = ("name", "method", "params")


def method_entries(cfg) -> List[MethodEntry]:
    """The validated method entries; a ConfigError names the entry (``methods[i]``) and what to fix."""
    if not isinstance(cfg.methods, (list, tuple)) or not cfg.methods:
        raise ConfigError("'methods' must be a non-empty list of online method names or {name, method, params}")
    out, seen = [], set()
    for i, item in enumerate(cfg.methods):
        where = f"methods[{i}]"
        if isinstance(item, str):
            label, method, params = item, item, {}
        elif isinstance(item, dict):
            for key in item:
                if key not in _ENTRY_KEYS:
                    near = difflib.get_close_matches(str(key), _ENTRY_KEYS, n=1, cutoff=0.5)
                    hint = f"; did you mean '{where}.{near[0]}'?" if near else f" (valid: {', '.join(_ENTRY_KEYS)})"
                    raise ConfigError(f"unknown key '{where}.{key}'{hint}")
            if "name" not in item and "method" not in item:
                raise ConfigError(f"'{where}' needs a 'name' (its label) or a 'method' (an online method)")
            method = item.get("method", item.get("name"))
            label = item.get("name", method)
            params = item.get("params") or {}
            if not isinstance(params, dict):
                raise ConfigError(f"'{where}.params' must be a mapping of the method's parameters, got {params!r}")
        else:
            raise ConfigError(f"'{where}' must be a method name or a mapping {{name, method, params}}, got {item!r}")
        if not isinstance(label, str) or not _LABEL.match(label):
            raise ConfigError(f"'{where}.name'={label!r} must be a folder-safe label (letters, digits, _ . + -)")
        if label == "sft":
            raise ConfigError(f"'{where}.name': 'sft' is the starting policy's name in the arena; pick another label")
        if label in seen:
            raise ConfigError(f"'{where}.name': label '{label}' appears twice; give each entry its own 'name'")
        try:
            get_method(method)
        except ValueError as err:
            raise ConfigError(f"'{where}': {err}") from None
        seen.add(label)
        out.append(MethodEntry(label, method, dict(params)))
    return out


def seed_list(cfg) -> List[int]:
    """``seeds`` as a list: n means 0..n-1."""
    seeds = list(range(cfg.seeds)) if isinstance(cfg.seeds, int) else list(cfg.seeds)
    if not seeds:
        raise ConfigError("'seeds' must name at least one seed (a list, or n for seeds 0..n-1)")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"'seeds' lists a seed twice: {seeds}")
    return seeds


def run_dir(cfg) -> Path:
    return Path(cfg.output_dir or Path("runs") / "compare" / cfg.name)


def check(cfg) -> None:
    """Everything that can be wrong before any work starts: methods, seeds, model, rounds, workers."""
    from preflab.tasks import TASKS

    method_entries(cfg)
    seed_list(cfg)
    if cfg.rounds < 1:
        raise ConfigError(f"'rounds' must be >= 1, got {cfg.rounds}")
    if cfg.workers is not None and cfg.workers < 1:
        raise ConfigError(f"'workers' must be >= 1, got {cfg.workers}")
    if cfg.task not in TASKS:
        near = difflib.get_close_matches(cfg.task, list(TASKS), n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise ConfigError(f"'task'={cfg.task!r} is not a built-in task{hint} (choose from {', '.join(TASKS)})")
    if cfg.model not in (None, "tiny", "smollm2"):
        raise ConfigError(f"'model'={cfg.model!r}: choose tiny (word tasks) or smollm2 (task instructions), or leave "
                          f"it out for the task's own model")
    if cfg.model == "smollm2" and cfg.task != "instructions":
        raise ConfigError(f"'model'=smollm2 plays task 'instructions' (task '{cfg.task}' trains the tiny model)")
    if cfg.model == "tiny" and cfg.task == "instructions":
        raise ConfigError("'model'=tiny needs a word task (transitive, heterogeneous, sentiment); "
                          "task 'instructions' is played by SmolLM2")
    if not 0 < cfg.stats.level < 1:
        raise ConfigError(f"'stats.level' must lie in (0, 1), got {cfg.stats.level}")
    if cfg.stats.resamples < 1:
        raise ConfigError(f"'stats.resamples' must be >= 1, got {cfg.stats.resamples}")


def online_settings(cfg, entry: Optional[MethodEntry], seed: int, output_dir: Path,
                    start_from: Optional[Path]) -> dict:
    """The OnlineConfig keyword arguments of one run: the shared settings, this run's method (``entry``; None
    for a seed's SFT-only run), seed, folder and starting policy."""
    params = {k: dict(v) if isinstance(v, dict) else v for k, v in cfg.params.items()}
    methods: list = []
    if entry is not None:
        params[entry.method] = {**params.get(entry.method, {}), **entry.params}
        methods = [entry.method]
    out = {name: getattr(cfg, name) for name in SHARED_KEYS}
    out.update(task=cfg.task, methods=methods, rounds=cfg.rounds, params=params, seed=seed,
               output_dir=str(output_dir), progress=False,
               start_from=None if start_from is None else str(start_from))
    return out
