"""A crash-safe log of oracle labels: a run that dies or is killed loses no label it already paid for.

Each label request is keyed by a stable hash of (oracle name, prompt, first, second). ``LabelLog.label``
looks every request up in the log, asks the oracle only for the missing ones, in batches, and appends each
batch's labels to a jsonl file at once (flush + fsync), so rerunning the same call after a failure resumes
where it stopped. When the oracle fails (an :class:`OracleError` after its retries, or any exception), the
labels obtained before the failure (including those the error carries in ``completed``) are written first,
and the :class:`OracleError` raised says how many were saved.

>>> import tempfile, os
>>> from preflab.oracles import RewardOracle
>>> oracle = RewardOracle(lambda x, y: len(y), temperature=0, name="length")
>>> path = os.path.join(tempfile.mkdtemp(), "labels.jsonl")
>>> log = LabelLog(path)
>>> log.label(oracle, ["q", "q"], ["aa", "a"], ["a", "aa"]).tolist()
[1.0, 0.0]
>>> len(LabelLog(path)), LabelLog(path).asked          # a new log reads the file; nothing asked yet
(2, 0)

One writer per file: two processes appending to the same log at once are not supported.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from .base import Oracle
from .errors import OracleError
from .validation import as_probabilities, check_pairs

__all__ = ["LabelLog", "label_key"]


def label_key(oracle_name: str, prompt: str, first: str, second: str) -> str:
    """The stable key of one label request: sha256 of the JSON list ``[oracle_name, prompt, first, second]``."""
    payload = json.dumps([oracle_name, prompt, first, second], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class LabelLog:
    """Labels (``P(first preferred)`` from ``oracle.compare``) stored in an append-only jsonl file.

    Each line: ``{"key", "oracle", "p", "prompt", "first", "second"}`` (the texts only with
    ``store_text=True``, the default). Opening a file whose last line was cut by a crash drops that partial
    line; a damaged line elsewhere is an error naming the line.
    """

    def __init__(self, path: Union[str, os.PathLike], *, store_text: bool = True):
        self.path = Path(path)
        self.store_text = store_text
        self.asked = 0          # oracle requests this object has made (items sent to compare)
        self._labels: dict[str, float] = {}
        self._load()

    # -- reading ---------------------------------------------------------------------------------------
    def _load(self) -> None:
        if not self.path.exists():
            return
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            # killed in the middle of a write: the last line is partial; cut it so appends start on a new line
            cut = raw.rfind(b"\n") + 1
            with open(self.path, "r+b") as f:
                f.truncate(cut)
                f.flush()
                os.fsync(f.fileno())
            raw = raw[:cut]
        for lineno, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key, p = row["key"], float(row["p"])
            except (ValueError, KeyError, TypeError) as e:
                raise OracleError(f"LabelLog {self.path}: line {lineno} is not a label record ({e}); "
                                  "each line must be a JSON object with 'key' and 'p'. Fix or delete that line.") from e
            self._labels[key] = p

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, key: str) -> bool:
        return key in self._labels

    def get(self, oracle: Union[Oracle, str], prompt: str, first: str, second: str) -> Optional[float]:
        """The saved label of one request, or None."""
        name = oracle if isinstance(oracle, str) else oracle.name
        return self._labels.get(label_key(name, prompt, first, second))

    # -- writing ---------------------------------------------------------------------------------------
    def _append(self, oracle_name: str, rows: list[tuple[str, float, str, str, str]]) -> None:
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for key, p, prompt, a, b in rows:
            rec = {"key": key, "oracle": oracle_name, "p": float(p)}
            if self.store_text:
                rec.update(prompt=prompt, first=a, second=b)
            lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("".join(lines))
            f.flush()
            os.fsync(f.fileno())
        for key, p, *_ in rows:
            self._labels[key] = float(p)

    def label(self, oracle: Oracle, prompts: Sequence[str], first: Sequence[str], second: Sequence[str], *,
              batch_size: int = 64) -> np.ndarray:
        """``oracle.compare(prompts, first, second)``, float64 [n], asking only for requests not in the log.

        Missing requests (each distinct key once) go to the oracle ``batch_size`` at a time; each batch is on
        disk before the next is asked. On a failure the labels obtained so far are saved and an OracleError
        says how many; rerun the same call to resume.
        """
        if not isinstance(oracle, Oracle):
            raise TypeError(f"LabelLog.label: oracle must be a preflab Oracle, got {type(oracle).__name__}")
        if batch_size < 1:
            raise ValueError(f"LabelLog.label: batch_size must be >= 1, got {batch_size}")
        if "<lambda>" in oracle.name or "<locals>" in oracle.name:
            raise ValueError(f"LabelLog.label: oracle name {oracle.name!r} comes from an anonymous function, so another "
                             "oracle could share it and reuse its labels; construct the oracle with name='...'")
        n = check_pairs(f"LabelLog.label ({oracle.name})", prompts, first, second)
        keys = [label_key(oracle.name, x, a, b) for x, a, b in zip(prompts, first, second)]
        missing: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key not in self._labels and key not in missing:
                missing[key] = i
        todo = list(missing.items())
        saved = 0
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            idx = [i for _, i in chunk]
            ps, pa, pb = [prompts[i] for i in idx], [first[i] for i in idx], [second[i] for i in idx]
            self.asked += len(idx)
            try:
                p = as_probabilities(f"LabelLog.label: oracle '{oracle.name}'.compare", oracle.compare(ps, pa, pb),
                                     len(idx))
            except Exception as e:
                partial = getattr(e, "completed", None)
                rows = []
                if partial is not None and len(partial) == len(idx):
                    rows = [(key, float(q), x, a, b) for (key, _), q, x, a, b in zip(chunk, partial, ps, pa, pb)
                            if np.isfinite(q)]
                self._append(oracle.name, rows)
                saved += len(rows)
                left = len(todo) - saved
                where = ""
                if getattr(e, "item", None) is not None:
                    where = f" (request {idx[e.item]} of this call)"
                raise OracleError(
                    f"LabelLog {self.path}: oracle '{oracle.name}' failed{where}: {e}\n"
                    f"{saved} new label(s) were saved in this call ({len(self)} in the log); {left} of the {len(todo)} "
                    "missing label(s) are still missing. Rerun the same call to resume: only those are asked.",
                    item=idx[e.item] if getattr(e, "item", None) is not None else None,
                    tries=getattr(e, "tries", None), saved=saved) from e
            self._append(oracle.name, [(key, float(q), x, a, b) for (key, _), q, x, a, b in zip(chunk, p, ps, pa, pb)])
            saved += len(idx)
        return np.array([self._labels[k] for k in keys], dtype=np.float64) if n else np.zeros(0)
