"""The discovery archive: every candidate, every fitness and every error of a run, in one SQLite file.

Tables: ``candidates`` (hash, name, code, thought, proposer, parents as JSON hashes, generation, meta),
``fitness`` (hash, fidelity, value, metrics JSON, seconds; one row per hash and fidelity) and ``errors``
(hash, stage, reason, message, seconds; the sandbox's reasons: static, import, forbidden, timeout, cpu,
memory, output, exception, invalid, crashed, and ``parse`` for a reply with no code). A rerun on the same
file continues: :meth:`Archive.has` tells the search which hashes are already done.

>>> import tempfile, os
>>> from preflab.discover.proposal import Proposal
>>> db = Archive(os.path.join(tempfile.mkdtemp(), "archive.db"))
>>> p = Proposal(code="def f(batch, beta):\\n    return beta * batch.policy_logps[:, 1]\\n", name="f", proposer="file")
>>> db.add(p, generation=0)
True
>>> db.add_fitness(p.hash, "games", 0.25, {"win": 0.6}, seconds=0.1)
>>> [(r.name, r.fitness["games"]) for r in db.records()]
[('f', 0.25)]
>>> db.add(p, generation=1)                  # the same hash again: not added
False
>>> db.close()
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from preflab.discover.proposal import Proposal

__all__ = ["Archive", "Record"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS candidates (
    hash TEXT PRIMARY KEY, name TEXT NOT NULL, code TEXT NOT NULL, thought TEXT NOT NULL DEFAULT '',
    proposer TEXT NOT NULL, parents TEXT NOT NULL DEFAULT '[]', generation INTEGER NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fitness (
    hash TEXT NOT NULL REFERENCES candidates(hash), fidelity TEXT NOT NULL, value REAL NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}', seconds REAL NOT NULL DEFAULT 0, PRIMARY KEY (hash, fidelity));
CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL REFERENCES candidates(hash), stage TEXT NOT NULL,
    reason TEXT NOT NULL, message TEXT NOT NULL, seconds REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class Record:
    """One archived candidate with its fitness per fidelity and its errors (``(stage, reason, message)``)."""

    hash: str
    name: str
    code: str
    thought: str
    proposer: str
    parents: tuple
    generation: int
    meta: dict
    fitness: dict = field(default_factory=dict)         # fidelity -> value
    metrics: dict = field(default_factory=dict)         # fidelity -> metrics dict
    errors: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error(self) -> Optional[str]:
        """The last error as ``reason: message``, or None."""
        return f"{self.errors[-1][1]}: {self.errors[-1][2]}" if self.errors else None


class Archive:
    """A run's archive at ``path`` (created if absent; WAL mode, so a report can read while a search writes)."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- writing -----------------------------------------------------------------------------------------
    def add(self, proposal: Proposal, generation: int) -> bool:
        """Store a candidate; False (and nothing stored) when its hash is already in the archive."""
        seq = self.db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]
        cur = self.db.execute(
            "INSERT OR IGNORE INTO candidates (hash, name, code, thought, proposer, parents, generation, meta, "
            "created, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (proposal.hash, proposal.name, proposal.code, proposal.thought, proposal.proposer,
             json.dumps(list(proposal.parents)), generation, json.dumps(proposal.meta), time.time(), seq))
        self.db.commit()
        return cur.rowcount == 1

    def add_fitness(self, hash: str, fidelity: str, value: float, metrics: Optional[dict] = None,
                    seconds: float = 0.0) -> None:
        self.db.execute("INSERT OR REPLACE INTO fitness (hash, fidelity, value, metrics, seconds) VALUES (?, ?, ?, ?, ?)",
                        (hash, fidelity, float(value), json.dumps(metrics or {}), float(seconds)))
        self.db.commit()

    def add_error(self, hash: str, stage: str, reason: str, message: str, seconds: float = 0.0) -> None:
        self.db.execute("INSERT INTO errors (hash, stage, reason, message, seconds) VALUES (?, ?, ?, ?, ?)",
                        (hash, stage, reason, message, float(seconds)))
        self.db.commit()

    def set(self, key: str, value) -> None:
        self.db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, json.dumps(value)))
        self.db.commit()

    def get(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    # -- reading -----------------------------------------------------------------------------------------
    def has(self, hash: str) -> bool:
        return self.db.execute("SELECT 1 FROM candidates WHERE hash = ?", (hash,)).fetchone() is not None

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]

    def next_generation(self) -> int:
        row = self.db.execute("SELECT MAX(generation) FROM candidates").fetchone()
        return 0 if row[0] is None else row[0] + 1

    def records(self) -> list:
        """Every candidate in the order it was added, with its fitness and errors."""
        out = {}
        for row in self.db.execute("SELECT hash, name, code, thought, proposer, parents, generation, meta "
                                   "FROM candidates ORDER BY seq"):
            out[row[0]] = Record(row[0], row[1], row[2], row[3], row[4], tuple(json.loads(row[5])), row[6],
                                 json.loads(row[7]))
        for h, fid, value, metrics in self.db.execute("SELECT hash, fidelity, value, metrics FROM fitness"):
            if h in out:
                out[h].fitness[fid] = value
                out[h].metrics[fid] = json.loads(metrics)
        for h, stage, reason, message in self.db.execute("SELECT hash, stage, reason, message FROM errors ORDER BY id"):
            if h in out:
                out[h].errors.append((stage, reason, message))
        return list(out.values())

    def best(self, fidelity: str, k: int = 1) -> list:
        """The k records with the highest fitness at ``fidelity`` (ties: the earlier first)."""
        scored = [r for r in self.records() if fidelity in r.fitness]
        return sorted(scored, key=lambda r: -r.fitness[fidelity])[:k]
