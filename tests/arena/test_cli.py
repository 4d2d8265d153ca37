"""``preflab arena``: rate (JSON and table), bad lines named, report from a store, and a whole run."""

import json

import pytest

from preflab.arena.ratings import rate
from preflab.arena.store import Store
from preflab.cli import main

LINES = ([{"model_a": "a", "model_b": "b", "winner": "model_a"}] * 6 + [{"model_a": "b", "model_b": "a", "winner": "model_a"}] * 2
         + [{"model_a": "b", "model_b": "c", "winner": "model_a"}] * 3 + [{"model_a": "c", "model_b": "b", "winner": "tie"}] * 2
         + [{"model_a": "c", "model_b": "a", "winner": "model_a"}] + [{"model_a": "a", "model_b": "c", "winner": "tie (bothbad)"}])


@pytest.fixture
def battle_file(tmp_path):
    path = tmp_path / "battles.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in LINES))
    return path


def test_rate_json_is_one_object_on_the_contract_scale(battle_file, capsys):
    assert main(["arena", "rate", str(battle_file), "--method", "bt", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    t = out["ratings"]
    assert set(t) == {"a", "b", "c"} and set(t["a"]) == {"rating", "lower", "upper", "rank", "battles"}
    assert sum(v["rating"] for v in t.values()) / 3 == pytest.approx(1000.0, abs=1e-9)
    ref = rate(LINES, method="bt", interval="sandwich").table
    for m in t:
        assert t[m] == pytest.approx(ref[m])
        assert t[m]["lower"] < t[m]["rating"] < t[m]["upper"]
    # the score equations on the printed ratings: a won 6 + 0 + 0.5 of its 10 battles
    p = lambda x, y: 1 / (1 + 10 ** ((t[y]["rating"] - t[x]["rating"]) / 400))
    assert 8 * p("a", "b") + 2 * p("a", "c") == pytest.approx(6.5, abs=1e-7)
    assert out["method"] == "bt" and out["interval"] == "sandwich" and out["battles"] == len(LINES)
    assert out["models"] == ["a", "b", "c"] and out["win_rate"][0][1] == 0.75
    assert sum(v["nash_mass"] for v in out["nash"].values()) == pytest.approx(1.0)


def test_rate_other_methods_and_the_table(battle_file, capsys):
    assert main(["arena", "rate", str(battle_file), "--method", "elo", "--json", "--rounds", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["interval"] == "bootstrap" and out["k"] == 4.0
    assert sum(v["rating"] for v in out["ratings"].values()) == pytest.approx(3000.0, abs=1e-9)
    assert main(["arena", "rate", str(battle_file), "--method", "davidson", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nu"] > 0
    assert main(["arena", "rate", str(battle_file)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("bt ratings, 15 battles, interval sandwich (95%)")
    assert "   1  a " in text


def test_malformed_line_is_named_by_number(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(LINES[0]) + "\n\n" + '{"model_a": "a", "model_b": "a", "winner": "tie"}\n')
    assert main(["arena", "rate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("preflab arena: error: ")
    assert f"{path}:3: battle field 'model_b': 'a' is the same model as model_a" in err
    path.write_text(json.dumps(LINES[0]) + "\nnot json\n")
    assert main(["arena", "rate", str(path)]) == 2
    assert f"{path}:2: not valid JSON" in capsys.readouterr().err
    assert main(["arena", "rate", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["arena", "rate", str(path), "--method", "elo", "--interval", "sandwich"]) == 2


def test_report_from_a_store(tmp_path, battle_file, capsys):
    db = tmp_path / "arena.db"
    with Store(str(db)) as store:
        assert store.import_jsonl(battle_file) == len(LINES)
    assert main(["arena", "report", "--db", str(db), "--baseline", "a"]) == 0
    page = (tmp_path / "report.html").read_text()
    assert '<img src="ratings.png"' in page and '<img src="winrate.png"' in page and "Length-controlled" in page
    summary = json.loads((tmp_path / "ratings.json").read_text())
    ref = rate(LINES).table
    assert all(summary["ratings"][m] == pytest.approx(ref[m]) for m in ref)
    assert (tmp_path / "ratings.png").stat().st_size > 5000 and (tmp_path / "winrate.png").stat().st_size > 5000
    capsys.readouterr()
    assert main(["arena", "rate", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["battles"] == len(LINES)


def test_arena_run_with_tiny_models_and_the_length_judge(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("What is 2+2?\nName a colour.\n")
    out = tmp_path / "run"
    argv = ["arena", "run", "--models", "x=tiny:1,y=tiny:2,z=tiny:3", "--prompts", str(prompts), "--judge", "length",
            "--out", str(out), "--max-new-tokens", "6", "--prior", "1"]
    assert main(argv) == 0
    with Store(str(out / "arena.db")) as store:
        battles = store.battles()
    assert len(battles) == 3 * 2 * 2                                  # 3 pairs x 2 prompts x 2 orders
    assert sorted({b.judge for b in battles}) == ["length"]
    assert sum(b.shown_a_first for b in battles) == 6
    for b in battles:                                                 # the length judge's verdicts, re-derived
        la, lb = len(b.response_a), len(b.response_b)
        assert b.winner == ("model_a" if la > lb else "model_b" if lb > la else "tie")
    answers = [json.loads(x) for x in (out / "answers.jsonl").read_text().splitlines()]
    assert [a["prompt"] for a in answers] == ["What is 2+2?", "Name a colour."]
    summary = json.loads((out / "ratings.json").read_text())
    assert set(summary["ratings"]) == {"x", "y", "z"}
    ref = rate(battles, prior=1.0).table
    assert all(summary["ratings"][m] == pytest.approx(ref[m]) for m in ref)
    assert len({round(v["rating"], 6) for v in ref.values()}) > 1          # the judge told the models apart
    assert (out / "report.html").exists() and (out / "winrate.png").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["models"] == "x=tiny:1,y=tiny:2,z=tiny:3" and config["judge"] == "length" and config["prior"] == 1.0
    capsys.readouterr()
    assert main(argv) == 0                                            # seeded answers: same battles, none new
    assert "0 new battles" in capsys.readouterr().err


def test_a_chat_model_contestant_answers_through_its_chat_template():
    """SmolLM2 as a contestant: the prompt goes through the chat template as token ids (transformers 5's
    apply_chat_template(tokenize=True) returns a BatchEncoding, which once reached the sampler as strings)."""
    from preflab.arena.contestants import _hf_model, load_contestant
    from preflab.models import load_tokenizer

    _, encode, _, _, _ = _hf_model("smollm2")
    ids = encode("What is 2 + 2?")
    tok = load_tokenizer("smollm2")
    assert all(isinstance(t, int) for t in ids)
    assert tok.decode(ids).endswith("<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n")
    (answer,) = load_contestant("smollm2", max_new_tokens=6, temperature=0.7, seed=0)(["Say hi."])
    assert isinstance(answer, str) and answer
