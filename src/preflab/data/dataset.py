"""Tokenized preference data: a sequence of PreferenceExample, stored as flat arrays.

Every kind has one shape, B prompts with K responses each (DESIGN.md): a pair is ``K = 2`` with ranks
``[0, 1]`` (chosen first), unpaired feedback ``K = 1`` with a label of +1 or -1, a list ``K >= 2`` with
ranks (0 is best) and the scores when given (a pair: its optional score_chosen and score_rejected).

The ids live in a few flat integer arrays with offsets, memory-mapped from the cache, so a dataset of
millions of responses costs 4 bytes a token and opens at once; ``ds[i]`` builds one example.

>>> ds = PreferenceDataset.from_examples(
...     [PreferenceExample(0, [1, 7], [[4, 2], [5, 2]], ranks=[0, 1], scores=None, labels=None)],
...     kind="pairwise", style="standard", fingerprint="f", stats={"rows": 1}, tokenizer_name="toy")
>>> len(ds), ds[0].completion_ids, ds[-1].ranks
(1, [[4, 2], [5, 2]], [0, 1])
>>> ds.prompt_lengths().tolist(), ds.completion_lengths().tolist()
([2], [2, 2])
"""

from __future__ import annotations

import collections.abc
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

__all__ = ["PreferenceExample", "PreferenceDataset"]

# array name -> dtype; ranks, scores and labels are present only for the kinds that carry them
_ARRAYS = {
    "index": np.int64,              # [N]   0-based row of each example in the source
    "prompt_offsets": np.int64,     # [N+1] prompt i is prompt_tokens[prompt_offsets[i]:prompt_offsets[i+1]]
    "prompt_tokens": np.int32,      # [P]
    "example_offsets": np.int64,    # [N+1] example i owns completions example_offsets[i]:example_offsets[i+1]
    "completion_offsets": np.int64,  # [C+1] completion c is completion_tokens[completion_offsets[c]:...[c+1]]
    "completion_tokens": np.int32,  # [T]
    "ranks": np.int64,              # [C]
    "scores": np.float64,           # [C]
    "labels": np.int8,              # [C]
    "prefs": np.float64,            # [sum K_i^2] example i's K x K preference matrix, row-major (online data)
}
_REQUIRED = ("index", "prompt_offsets", "prompt_tokens", "example_offsets", "completion_offsets", "completion_tokens")


@dataclass(frozen=True)
class PreferenceExample:
    """One prompt with its K tokenized responses and their preference signal.

    ``completion_ids``: pairs ``[chosen, rejected]``; unpaired ``[completion]``; lists in the data's order.
    ``ranks``: 0 is best, equal ranks tie (pairs ``[0, 1]``). ``scores``: listwise scores when given.
    ``labels``: unpaired ``[+1]`` (desirable) or ``[-1]``. ``prefs``: a K x K matrix, ``prefs[i][j]`` =
    P(response i preferred to response j), from an oracle (online rounds).
    """

    index: int
    prompt_ids: list[int]
    completion_ids: list[list[int]]
    ranks: Optional[list[int]]
    scores: Optional[list[float]]
    labels: Optional[list[int]]
    prefs: Optional[list[list[float]]] = None

    @property
    def K(self) -> int:
        return len(self.completion_ids)


class PreferenceDataset(collections.abc.Sequence):
    """A sequence of :class:`PreferenceExample` over flat token arrays.

    ``kind`` is ``"pairwise"``, ``"listwise"`` or ``"unpaired"``; ``style`` ``"standard"`` or
    ``"conversational"``; ``fingerprint`` the cache key (data, tokenizer, settings, format version);
    ``stats`` counts rows, skipped rows, truncations and token lengths; ``from_cache`` says whether this
    load reused an earlier tokenization.
    """

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        *,
        kind: str,
        style: str,
        fingerprint: str,
        stats: dict,
        tokenizer_name: str,
        from_cache: bool = False,
        path: Optional[Path] = None,
    ):
        missing = [k for k in _REQUIRED if k not in arrays]
        if missing:
            raise ValueError(f"PreferenceDataset: arrays {missing} are missing")
        self._a = arrays
        self.kind = kind
        self.style = style
        self.fingerprint = fingerprint
        self.stats = stats
        self.tokenizer_name = tokenizer_name
        self.from_cache = from_cache
        self.path = path

    # -- Sequence --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._a["index"])

    def __getitem__(self, i: Union[int, slice]):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"PreferenceDataset index {i} out of range for {n} examples")
        i %= n
        a = self._a
        p0, p1 = a["prompt_offsets"][i], a["prompt_offsets"][i + 1]
        c0, c1 = int(a["example_offsets"][i]), int(a["example_offsets"][i + 1])
        offs, toks = a["completion_offsets"], a["completion_tokens"]
        return PreferenceExample(
            index=int(a["index"][i]),
            prompt_ids=a["prompt_tokens"][p0:p1].tolist(),
            completion_ids=[toks[offs[c]:offs[c + 1]].tolist() for c in range(c0, c1)],
            ranks=a["ranks"][c0:c1].tolist() if "ranks" in a else None,
            scores=_scores(a["scores"][c0:c1]) if "scores" in a else None,
            labels=a["labels"][c0:c1].tolist() if "labels" in a else None,
            prefs=self._prefs(i, c1 - c0) if "prefs" in a else None,
        )

    def _prefs(self, i: int, K: int) -> list[list[float]]:
        if not hasattr(self, "_pref_starts"):
            k = np.diff(self._a["example_offsets"])
            self._pref_starts = np.concatenate([[0], np.cumsum(k * k)])
        s = int(self._pref_starts[i])
        return self._a["prefs"][s:s + K * K].reshape(K, K).tolist()

    def __repr__(self) -> str:
        return (f"PreferenceDataset(kind={self.kind!r}, style={self.style!r}, rows={len(self)}, "
                f"tokenizer={self.tokenizer_name!r}, fingerprint={self.fingerprint[:12]!r})")

    # -- lengths, for batching -------------------------------------------------------------------
    def prompt_lengths(self) -> np.ndarray:
        """Prompt token counts [N]."""
        return np.diff(self._a["prompt_offsets"])

    def completion_lengths(self) -> np.ndarray:
        """Response token counts [C], in example order (example i owns ``example_offsets[i]:[i+1]``)."""
        return np.diff(self._a["completion_offsets"])

    def completions_per_example(self) -> np.ndarray:
        """K of each example [N]."""
        return np.diff(self._a["example_offsets"])

    # -- building and storing --------------------------------------------------------------------
    @classmethod
    def from_examples(cls, examples: list[PreferenceExample], **attrs: Any) -> "PreferenceDataset":
        """A dataset holding ``examples`` (for tests and small in-memory data)."""
        builder = ArrayBuilder()
        builder.add(
            [e.index for e in examples], [e.prompt_ids for e in examples], [e.completion_ids for e in examples],
            ranks=_column(examples, "ranks"), scores=_column(examples, "scores"), labels=_column(examples, "labels"),
            prefs=_column(examples, "prefs"),
        )
        return cls(builder.finish(), **attrs)

    def save(self, path: Union[str, Path]) -> None:
        """Write the arrays (``.npy``) and ``meta.json`` into the folder ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name, array in self._a.items():
            np.save(path / f"{name}.npy", np.ascontiguousarray(array))
        meta = {"kind": self.kind, "style": self.style, "fingerprint": self.fingerprint, "stats": self.stats,
                "tokenizer_name": self.tokenizer_name, "arrays": sorted(self._a)}
        (path / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: Union[str, Path], *, mmap: bool = True) -> "PreferenceDataset":
        """The dataset that ``save`` wrote into ``path`` (arrays memory-mapped unless ``mmap=False``)."""
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text())
        arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r" if mmap else None) for name in meta["arrays"]}
        return cls(arrays, kind=meta["kind"], style=meta["style"], fingerprint=meta["fingerprint"],
                   stats=meta["stats"], tokenizer_name=meta["tokenizer_name"], from_cache=True, path=path)


def _scores(values: np.ndarray) -> Optional[list[float]]:
    # NaN marks a listwise row that gave ranks but no scores (validated scores are finite)
    return None if np.isnan(values).all() else values.tolist()


def _column(examples: list[PreferenceExample], name: str) -> Optional[list]:
    values = [getattr(e, name) for e in examples]
    if all(v is None for v in values):
        return None
    if name == "scores":
        return [v if v is not None else [float("nan")] * e.K for v, e in zip(values, examples)]
    if any(v is None for v in values):
        raise ValueError(f"PreferenceDataset: some examples have {name} and some do not")
    return values


class ArrayBuilder:
    """Collects tokenized examples batch by batch into flat numpy arrays (4 bytes a token, not 36)."""

    def __init__(self) -> None:
        self._parts: dict[str, list[np.ndarray]] = {k: [] for k in _ARRAYS}
        self._n_prompt_tokens = self._n_completions = self._n_completion_tokens = 0

    def add(self, index: list[int], prompts: list[list[int]], completions: list[list[list[int]]], *,
            ranks: Optional[list[list[int]]] = None, scores: Optional[list[list[float]]] = None,
            labels: Optional[list[list[int]]] = None, prefs: Optional[list[list[list[float]]]] = None) -> None:
        if not index:
            return
        flat = [c for cs in completions for c in cs]
        p = self._parts
        p["index"].append(np.asarray(index, dtype=np.int64))
        p["prompt_offsets"].append(self._n_prompt_tokens + np.cumsum([len(x) for x in prompts], dtype=np.int64))
        p["example_offsets"].append(self._n_completions + np.cumsum([len(cs) for cs in completions], dtype=np.int64))
        p["completion_offsets"].append(self._n_completion_tokens + np.cumsum([len(c) for c in flat], dtype=np.int64))
        p["prompt_tokens"].append(_flatten(prompts))
        p["completion_tokens"].append(_flatten(flat))
        for name, values in (("ranks", ranks), ("scores", scores), ("labels", labels)):
            if values is not None:
                p[name].append(np.asarray([v for vs in values for v in vs], dtype=_ARRAYS[name]))
        if prefs is not None:
            for m, cs in zip(prefs, completions):
                if np.shape(m) != (len(cs), len(cs)):
                    raise ValueError(f"prefs must be K x K for K={len(cs)} responses, got shape {np.shape(m)}")
            p["prefs"].append(np.concatenate([np.asarray(m, dtype=np.float64).ravel() for m in prefs]))
        self._n_prompt_tokens = int(p["prompt_offsets"][-1][-1])
        self._n_completions = int(p["example_offsets"][-1][-1])
        self._n_completion_tokens = int(p["completion_offsets"][-1][-1])

    def finish(self) -> dict[str, np.ndarray]:
        out = {}
        for name, parts in self._parts.items():
            if not parts and name not in _REQUIRED:
                continue
            array = np.concatenate(parts) if parts else np.zeros(0, dtype=_ARRAYS[name])
            if name.endswith("_offsets"):
                array = np.concatenate([np.zeros(1, dtype=np.int64), array])
            out[name] = array.astype(_ARRAYS[name], copy=False)
        return out


def _flatten(lists: list[list[int]]) -> np.ndarray:
    total = sum(len(x) for x in lists)
    return np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int32, count=total)
