"""The battle store: idempotent ids, many writers at once, jsonl round trips, errors naming the field or line."""

import json
import multiprocessing

import pytest

from preflab.arena.store import WINNERS, Battle, Store, read_jsonl


def _write_votes(path, worker, n):
    store = Store(path)
    added = 0
    for i in range(n):
        added += store.add(Battle(model_a=f"m{i % 5}", model_b=f"m{(i + 1) % 5}", winner=WINNERS[i % 4],
                                  judge="human", id=f"w{worker}-v{i}", prompt=f"q{i}"))
    store.close()
    return added


def test_eight_processes_lose_and_duplicate_nothing(tmp_path):
    path = str(tmp_path / "arena.db")
    Store(path).close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        results = pool.starmap(_write_votes, [(path, w, 1000) for w in range(8)])
    assert results == [1000] * 8
    store = Store(path)
    assert store.count() == 8000
    ids = [b.id for b in store.battles()]
    assert len(set(ids)) == 8000 == len(ids)
    assert set(ids) == {f"w{w}-v{i}" for w in range(8) for i in range(1000)}
    assert store.add_many(store.battles()) == 0
    assert store.count() == 8000
    assert store.models() == ["m0", "m1", "m2", "m3", "m4"]
    assert store._connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_deterministic_id_and_idempotent_add():
    a = Battle(model_a="x", model_b="y", winner="model_b", prompt="p", response_a="r1", response_b="r2",
               judge="gpt", tstamp=1.0)
    b = Battle(model_a="x", model_b="y", winner="model_b", prompt="p", response_a="r1", response_b="r2",
               judge="gpt", tstamp=2.0)
    c = Battle(model_a="x", model_b="y", winner="model_a", prompt="p", response_a="r1", response_b="r2",
               judge="gpt")
    assert a.id == b.id != c.id and len(a.id) == 64
    store = Store(":memory:")
    assert store.add(a) is True and store.add(b) is False and store.add(c) is True
    assert store.count() == 2
    assert [x.tstamp for x in store.battles(judge="gpt")][0] == 1.0
    assert store.battles(judge="human") == []


@pytest.mark.parametrize("fields, name", [
    (dict(model_a="a", model_b="b", winner="a"), "winner"),
    (dict(model_a="a", model_b="a", winner="tie"), "model_b"),
    (dict(model_a="", model_b="b", winner="tie"), "model_a"),
    (dict(model_a="a", model_b="b", winner="tie", strength=3), "strength"),
    (dict(model_a="a", model_b="b", winner="tie", judge=""), "judge"),
])
def test_bad_battle_names_the_field(fields, name):
    with pytest.raises(ValueError, match=f"battle field '{name}'"):
        Battle(**fields).validate()
    store = Store(":memory:")
    good = Battle(model_a="a", model_b="b", winner="tie", id="ok")
    with pytest.raises(ValueError, match=f"'{name}'"):
        store.add_many([good, Battle(**fields)])
    assert store.count() == 0           # one transaction: nothing written


def test_jsonl_round_trip_and_fastchat_lines(tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [
        {"model_a": "a", "model_b": "b", "winner": "model_a"},
        {"model_a": "a", "model_b": "b", "winner": "model_a"},          # a repeat is a second battle
        {"model_a": "b", "model_b": "c", "winner": "tie (bothbad)", "question_id": 7, "tstamp": 5.0,
         "conversation_a": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
         "conversation_b": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
    ]
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    store = Store(":memory:")
    assert store.import_jsonl(src) == 3
    assert store.import_jsonl(src) == 0                                  # same file again: nothing new
    third = store.battles(models=["b", "c"])[0]
    assert (third.prompt, third.response_a, third.response_b, third.meta, third.tstamp) == \
        ("hi", "hello", "yo", {"question_id": 7}, 5.0)
    out = tmp_path / "out.jsonl"
    assert store.export_jsonl(out) == 3
    exported = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(x["model_a"], x["model_b"], x["winner"]) for x in exported] == \
        [(x["model_a"], x["model_b"], x["winner"]) for x in lines]
    other = Store(str(tmp_path / "copy.db"))
    assert other.import_jsonl(out) == 3
    assert [b.record() for b in other.battles()] == [b.record() for b in store.battles()]
    other.close()


def test_bad_line_named_by_number(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"model_a": "a", "model_b": "b", "winner": "model_a"}\n'
                    '{"model_a": "a", "model_b": "b", "winner": "draw"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: battle field 'winner': 'draw'"):
        read_jsonl(path)
    path.write_text('{"model_a": "a", "model_b": "b", "winner": "model_a"}\n{"model_a": "a",\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not valid JSON"):
        read_jsonl(path)
    path.write_text('{"model_a": "a", "winner": "model_a"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: missing field 'model_b'"):
        Store(":memory:").import_jsonl(path)
