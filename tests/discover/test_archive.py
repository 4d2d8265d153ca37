"""The SQLite archive: candidates, fitness per fidelity, errors, settings, ordering of the best."""

import sqlite3

from preflab.discover.archive import Archive
from preflab.discover.proposal import Proposal


def _p(i):
    return Proposal(code=f"def f(batch, beta):\n    return {i} * beta * batch.policy_logps[:, 1]\n", name=f"c{i}",
                    proposer="test", thought=f"t{i}", parents=("aa",) if i else (), meta={"i": i})


def test_archive_round_trip_and_resume(tmp_path):
    db = Archive(tmp_path / "a.db")
    for i in range(3):
        assert db.add(_p(i), generation=i // 2)
    db.add_fitness(_p(0).hash, "games", 0.1, {"win": 0.5}, 1.5)
    db.add_fitness(_p(1).hash, "games", 0.7)
    db.add_fitness(_p(1).hash, "tiny", 0.2)
    db.add_error(_p(2).hash, "games", "invalid", "margin: the loss rises with the margin")
    db.set("curves", {"x": [1, 2]})
    db.close()
    db = Archive(tmp_path / "a.db")                 # reopened: everything is there
    recs = db.records()
    assert [r.name for r in recs] == ["c0", "c1", "c2"]
    assert recs[1].fitness == {"games": 0.7, "tiny": 0.2} and recs[1].parents == ("aa",)
    assert recs[2].error == "invalid: margin: the loss rises with the margin" and not recs[2].ok
    assert [r.name for r in db.best("games", 5)] == ["c1", "c0"]
    assert db.next_generation() == 2 and db.count() == 3 and db.has(_p(2).hash)
    assert not db.add(_p(0), generation=5) and db.count() == 3
    assert db.get("curves") == {"x": [1, 2]}
    db.close()
    rows = sqlite3.connect(tmp_path / "a.db").execute("SELECT seconds FROM fitness WHERE fidelity='games' ORDER BY value").fetchall()
    assert rows == [(1.5,), (0.0,)]
