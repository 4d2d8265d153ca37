"""The battle store: every pairwise battle (who met whom, on what, who won, by whose judgement) in SQLite.

One row a battle, keyed by an id, so that writing a battle twice writes it once (``INSERT OR IGNORE``):
re-running an arena, retrying a vote or re-importing a file adds nothing new. The database runs in WAL mode
with a busy timeout, so many processes (voting-page workers, arena runs) may write at once; each process
opens its own connection (a connection is never carried across ``fork``) and a lock serializes threads.

>>> store = Store(":memory:")
>>> store.add(Battle(model_a="m1", model_b="m2", winner="model_a", prompt="2+2?", response_a="4", response_b="5"))
True
>>> store.add(Battle(model_a="m1", model_b="m2", winner="model_a", prompt="2+2?", response_a="4", response_b="5"))
False
>>> store.add(Battle(model_a="m2", model_b="m3", winner="tie (bothbad)", judge="human", id="vote-1"))
True
>>> store.count(), store.models()
(2, ['m1', 'm2', 'm3'])
>>> [b.winner for b in store.battles(models=["m2", "m3"])]
['tie (bothbad)']
>>> Battle(model_a="m1", model_b="m1", winner="tie").validate()
Traceback (most recent call last):
...
ValueError: battle field 'model_b': 'm1' is the same model as model_a; a battle needs two different models
>>> store.close()

Files are FastChat-style jsonl: one battle a line with ``model_a``, ``model_b``, ``winner`` (one of
:data:`WINNERS`) and optionally ``id``, ``prompt``, ``response_a``, ``response_b``, ``judge``, ``strength``,
``shown_a_first``, ``tstamp`` and ``meta``; FastChat's ``conversation_a`` / ``conversation_b`` give the prompt
and responses, and any other key is kept in ``meta``. A bad line raises ``ValueError`` naming ``file:line``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import threading
import time
from typing import Iterable, Optional, Sequence

__all__ = ["WINNERS", "Battle", "Store", "battle_from_record", "read_jsonl"]

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")

_COLUMNS = ("id", "model_a", "model_b", "winner", "strength", "prompt", "response_a", "response_b", "judge",
            "shown_a_first", "tstamp", "meta")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS battles (
    id            TEXT PRIMARY KEY,
    model_a       TEXT NOT NULL,
    model_b       TEXT NOT NULL,
    winner        TEXT NOT NULL CHECK (winner IN ('model_a', 'model_b', 'tie', 'tie (bothbad)')),
    strength      INTEGER NOT NULL CHECK (strength IN (1, 2)),
    prompt        TEXT NOT NULL,
    response_a    TEXT NOT NULL,
    response_b    TEXT NOT NULL,
    judge         TEXT NOT NULL,
    shown_a_first INTEGER NOT NULL,
    tstamp        REAL NOT NULL,
    meta          TEXT,
    CHECK (model_a <> model_b)
);
CREATE INDEX IF NOT EXISTS battles_models ON battles (model_a, model_b);
CREATE INDEX IF NOT EXISTS battles_judge ON battles (judge);
CREATE TABLE IF NOT EXISTS models (
    name       TEXT PRIMARY KEY,
    first_seen REAL NOT NULL
);
"""
_KNOWN_KEYS = {"id", "model_a", "model_b", "winner", "strength", "prompt", "response_a", "response_b", "judge",
               "shown_a_first", "tstamp", "meta", "conversation_a", "conversation_b"}


@dataclasses.dataclass
class Battle:
    """One pairwise battle. ``winner`` is one of :data:`WINNERS`; ``strength`` is 1 (A > B) or 2 (A >> B);
    ``shown_a_first`` says whether ``response_a`` was shown in the first position. ``id`` None gives a
    deterministic id (sha256 of the content: models, prompt, responses, judge, winner, strength, shown order,
    meta), so the same judgement stored twice is one row; votes by people pass an explicit id (a uuid).
    ``tstamp`` None is the time of creation."""

    model_a: str
    model_b: str
    winner: str
    prompt: str = ""
    response_a: str = ""
    response_b: str = ""
    judge: str = "human"
    strength: int = 1
    shown_a_first: bool = True
    id: Optional[str] = None
    tstamp: Optional[float] = None
    meta: Optional[dict] = None

    def __post_init__(self):
        if self.tstamp is None:
            self.tstamp = time.time()
        if self.id is None:
            self.id = self.content_id()

    def content_id(self) -> str:
        """sha256 (hex) of the content fields; the id of a battle created without one."""
        content = [self.model_a, self.model_b, self.prompt, self.response_a, self.response_b, self.judge,
                   self.winner, self.strength, bool(self.shown_a_first), self.meta]
        text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def validate(self) -> "Battle":
        """Raise ``ValueError`` naming the first bad field; return the battle itself when it is sound."""
        for name in ("model_a", "model_b"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"battle field '{name}': {value!r} is not a model name; give a non-empty string")
        if self.model_a == self.model_b:
            raise ValueError(f"battle field 'model_b': {self.model_b!r} is the same model as model_a; "
                             f"a battle needs two different models")
        if self.winner not in WINNERS:
            raise ValueError(f"battle field 'winner': {self.winner!r} is not one of {', '.join(map(repr, WINNERS))}")
        if isinstance(self.strength, bool) or self.strength not in (1, 2):
            raise ValueError(f"battle field 'strength': {self.strength!r} is not 1 (A > B) or 2 (A >> B)")
        for name in ("prompt", "response_a", "response_b"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"battle field '{name}': expected a string, got {type(getattr(self, name)).__name__}")
        if not isinstance(self.judge, str) or not self.judge.strip():
            raise ValueError(f"battle field 'judge': {self.judge!r} is not a judge name; give a non-empty string "
                             f"('human' for people)")
        if not isinstance(self.shown_a_first, (bool, int)) or self.shown_a_first not in (0, 1):
            raise ValueError(f"battle field 'shown_a_first': {self.shown_a_first!r} is not true or false")
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"battle field 'id': {self.id!r} is not a non-empty string")
        if isinstance(self.tstamp, bool) or not isinstance(self.tstamp, (int, float)) or self.tstamp != self.tstamp:
            raise ValueError(f"battle field 'tstamp': {self.tstamp!r} is not a number of seconds since the epoch")
        if self.meta is not None and not isinstance(self.meta, dict):
            raise ValueError(f"battle field 'meta': expected an object (dict) or null, got {type(self.meta).__name__}")
        return self

    def record(self) -> dict:
        """The FastChat-style line of this battle (a dict ready for ``json.dumps``)."""
        out = {"id": self.id, "model_a": self.model_a, "model_b": self.model_b, "winner": self.winner,
               "strength": self.strength, "judge": self.judge, "prompt": self.prompt,
               "response_a": self.response_a, "response_b": self.response_b,
               "shown_a_first": bool(self.shown_a_first), "tstamp": self.tstamp}
        if self.meta is not None:
            out["meta"] = self.meta
        return out


def _conversation_text(conv, role: str, last: bool) -> str:
    turns = [t.get("content", "") for t in conv if isinstance(t, dict) and t.get("role") == role]
    if not turns:
        return ""
    text = turns[-1] if last else turns[0]
    return text if isinstance(text, str) else json.dumps(text)


def battle_from_record(record: dict) -> Battle:
    """A :class:`Battle` from one FastChat-style record (see the module docstring), validated."""
    if not isinstance(record, dict):
        raise ValueError(f"a battle is a JSON object with model_a, model_b and winner, got {type(record).__name__}")
    for key in ("model_a", "model_b", "winner"):
        if key not in record:
            raise ValueError(f"missing field '{key}' (a battle line needs model_a, model_b and winner)")
    fields = {k: record[k] for k in ("model_a", "model_b", "winner", "id", "strength", "judge", "prompt",
                                      "response_a", "response_b", "shown_a_first", "tstamp") if k in record}
    if "judge" in fields and fields["judge"] is None:
        del fields["judge"]
    for side in ("a", "b"):
        conv = record.get(f"conversation_{side}")
        if isinstance(conv, list):
            fields.setdefault("prompt", _conversation_text(conv, "user", last=False))
            fields.setdefault(f"response_{side}", _conversation_text(conv, "assistant", last=True))
    meta = dict(record["meta"]) if isinstance(record.get("meta"), dict) else record.get("meta")
    extra = {k: v for k, v in record.items() if k not in _KNOWN_KEYS}
    if extra:
        meta = {**(meta or {}), **extra} if isinstance(meta, dict) or meta is None else meta
    return Battle(meta=meta, **fields).validate()


def read_jsonl(path) -> list[Battle]:
    """The battles of a jsonl file, in order. A line without an ``id`` gets its content id, made unique among
    identical lines by their occurrence count (so repeated lines stay separate battles and re-reading the file
    gives the same ids). A bad line raises ``ValueError`` naming ``path:line``; blank lines are skipped."""
    out, seen = [], {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg} at column {err.colno}); "
                                 f"each line must be one JSON object") from None
            try:
                battle = battle_from_record(record)
            except (ValueError, TypeError) as err:
                raise ValueError(f"{path}:{lineno}: {err}") from None
            if not (isinstance(record, dict) and record.get("id")):
                k = seen.get(battle.id, 0)
                seen[battle.id] = k + 1
                if k:
                    battle.id = hashlib.sha256(f"{battle.id}#{k}".encode()).hexdigest()
            out.append(battle)
    return out


class Store:
    """Battles in SQLite (``path`` a file, or ``":memory:"``). Safe for many processes: WAL journal,
    ``busy_timeout`` (``timeout`` seconds), every write one ``BEGIN IMMEDIATE`` transaction. Within a process
    threads share one connection under a lock; a forked child opens its own on first use."""

    def __init__(self, path="arena.db", timeout: float = 60.0):
        self.path = str(path)
        self.timeout = float(timeout)
        self._lock = threading.RLock()
        self._conn = None
        self._pid = None
        self._connection()

    # -- connection --------------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if self._conn is not None and self.path == ":memory:":
            raise ValueError("a ':memory:' store cannot be used from a forked process; use a file path")
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        if self.path != ":memory:":
            deadline = time.monotonic() + self.timeout
            while True:     # switching to WAL takes a brief exclusive lock that busy_timeout does not always cover
                try:
                    conn.execute("PRAGMA journal_mode = WAL")
                    break
                except sqlite3.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("COMMIT")
        self._conn, self._pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        """Close this process's connection (a forked child's copy is left to its parent)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- writing -----------------------------------------------------------------------------------------
    def add(self, battle: Battle) -> bool:
        """Store one battle; True if it was new, False if its id was already there (nothing written)."""
        return self.add_many([battle]) == 1

    def add_many(self, battles: Iterable[Battle]) -> int:
        """Store battles in one transaction (all or none); the number of new rows. Every battle is validated
        first, so a bad one writes nothing."""
        battles = [b.validate() for b in battles]
        rows = [(b.id, b.model_a, b.model_b, b.winner, int(b.strength), b.prompt, b.response_a, b.response_b,
                 b.judge, int(bool(b.shown_a_first)), float(b.tstamp),
                 None if b.meta is None else json.dumps(b.meta, ensure_ascii=False, sort_keys=True, default=str))
                for b in battles]
        if not rows:
            return 0
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = conn.total_changes
                conn.executemany(f"INSERT OR IGNORE INTO battles ({', '.join(_COLUMNS)}) "
                                 f"VALUES ({', '.join('?' * len(_COLUMNS))})", rows)
                added = conn.total_changes - before
                now = time.time()
                conn.executemany("INSERT OR IGNORE INTO models (name, first_seen) VALUES (?, ?)",
                                 [(m, now) for m in sorted({m for r in rows for m in r[1:3]})])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return added

    # -- reading -----------------------------------------------------------------------------------------
    def battles(self, models: Optional[Sequence[str]] = None, judge: Optional[str] = None) -> list[Battle]:
        """Stored battles in insertion order; ``models`` keeps those whose two models are both in it,
        ``judge`` those of that judge."""
        query, params = f"SELECT {', '.join(_COLUMNS)} FROM battles", []
        where = []
        if models is not None:
            models = list(models)
            marks = ", ".join("?" * len(models))
            where.append(f"model_a IN ({marks}) AND model_b IN ({marks})")
            params += models + models
        if judge is not None:
            where.append("judge = ?")
            params.append(judge)
        if where:
            query += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._connection().execute(query + " ORDER BY rowid", params).fetchall()
        return [Battle(model_a=r[1], model_b=r[2], winner=r[3], strength=r[4], prompt=r[5], response_a=r[6],
                       response_b=r[7], judge=r[8], shown_a_first=bool(r[9]), tstamp=r[10], id=r[0],
                       meta=None if r[11] is None else json.loads(r[11])) for r in rows]

    def count(self) -> int:
        """The number of stored battles."""
        with self._lock:
            return self._connection().execute("SELECT COUNT(*) FROM battles").fetchone()[0]

    def models(self) -> list[str]:
        """Every model that appears in a battle, sorted."""
        with self._lock:
            return [r[0] for r in self._connection().execute("SELECT name FROM models ORDER BY name")]

    # -- files -------------------------------------------------------------------------------------------
    def import_jsonl(self, path) -> int:
        """Add the battles of a FastChat-style jsonl file (all or none); the number of new rows."""
        return self.add_many(read_jsonl(path))

    def export_jsonl(self, path) -> int:
        """Write every battle as one FastChat-style line; the number of lines written."""
        battles = self.battles()
        with open(path, "w", encoding="utf-8") as fh:
            for b in battles:
                fh.write(json.dumps(b.record(), ensure_ascii=False) + "\n")
        return len(battles)
