"""AlpacaEval 2's length-controlled win rate: equal to a re-implementation of alpaca_eval 0.6.6's GLM fit
(``metrics/glm_winrate.py``: pandas features, duplicated probabilistic labels, metadata-routed CV scorer),
length-only wins pulled to 50, shorter-but-equal models not penalised, lengths in characters, clear errors."""

import json
import math

import numpy as np
import pytest
from scipy.special import expit

from preflab.arena.length_control import (estimate_instruction_difficulty, glm_lc_win_rate,
                                          length_controlled_win_rate, read_instruction_difficulty)
from preflab.arena.store import Battle
from preflab.cli import main

pd = pytest.importorskip("pandas")
sklearn = pytest.importorskip("sklearn")


# --- the reference: alpaca_eval's steps, written out with pandas and sklearn ------------------------------------

def _alpaca_reference(annotations: "pd.DataFrame", difficulty: dict) -> tuple:
    """(LC in percent, coefficients) from AlpacaEval-style annotations: output_1 the baseline, output_2 the model,
    preference 1 (baseline wins), 2 (model wins), 0 or 1.5 (tie)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GroupKFold

    df = annotations.reset_index()
    delta = df["output_1"].str.len() - df["output_2"].str.len()
    feats = pd.DataFrame({"np.tanh(std_delta_len)": np.tanh(delta / delta.std()),
                          "instruction_difficulty": df["instruction"].map(difficulty).astype(float),
                          "not_gamed_baseline.astype(float)": 1.0})
    pref = df["preference"].astype(float).replace({0.0: 1.5}) - 1
    data = feats.assign(preference=pref).reset_index(drop=True).reset_index(drop=False, names=["group"])
    d1, d0 = data.copy(), data.copy()
    d1["y"] = 1
    d0["preference"] = 1 - d0["preference"]
    d0["y"] = 0
    dup = pd.concat([d1, d0], axis=0).reset_index(drop=True)
    true_prob = dup["preference"]

    def logloss_continuous(y_true, y_pred, true_prob, true_sample_weight=None):
        y_true = np.where(y_true == 1, true_prob, 1 - true_prob)
        y_pred = np.clip(y_pred, 1e-15, 1 - 1e-15)
        return -np.mean(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))

    import inspect
    l1 = ({"l1_ratios": (1.0,), "use_legacy_attributes": False}
          if inspect.signature(LogisticRegressionCV).parameters["penalty"].default == "deprecated" else {"penalty": "l1"})
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_scorer(logloss_continuous, response_method="predict_proba", greater_is_better=False
                             ).set_score_request(true_sample_weight=True, true_prob=True)
        model = LogisticRegressionCV(cv=GroupKFold(n_splits=5), scoring=scorer, random_state=123, dual=False,
                                     solver="liblinear", fit_intercept=False, **l1)
        model.set_fit_request(sample_weight=True)
        model.fit(X=dup.drop(columns=["preference", "y", "group"]), y=dup["y"], sample_weight=true_prob,
                  groups=dup["group"], true_sample_weight=None, true_prob=true_prob)
    test = feats.assign(**{"np.tanh(std_delta_len)": 0.0})
    return 100 * model.predict_proba(test)[:, 1].mean(), model.coef_.ravel()


def _annotations(battles, model, baseline="base") -> "pd.DataFrame":
    rows = []
    for b in battles:
        if {b.model_a, b.model_b} != {model, baseline}:
            continue
        mine = "a" if b.model_a == model else "b"
        won = {"model_a": "a", "model_b": "b"}.get(b.winner)
        rows.append({"instruction": b.prompt, "output_1": getattr(b, "response_" + ("b" if mine == "a" else "a")),
                     "output_2": getattr(b, "response_" + mine),
                     "preference": 0 if won is None else (2 if won == mine else 1)})
    return pd.DataFrame(rows)


def _arena(seed=0, n=160):
    """base against 'long' (wins by length and a little quality) and 'sharp' (better, shorter), with ties and
    both seat orders; per-instruction difficulty shared by both."""
    rng = np.random.default_rng(seed)
    battles, hard = [], {}
    for i in range(n):
        x = f"instruction {i}"
        hard[x] = float(rng.normal())
        base = "b" * int(rng.integers(100, 600))
        for model, extra, skill in (("long", 300, 0.3), ("sharp", -80, 0.8)):
            ans = "m" * max(1, len(base) + int(rng.normal(extra, 150)))
            z = skill - 0.7 * hard[x] + 1.5 * math.tanh((len(ans) - len(base)) / 250)
            u = rng.random()
            winner = "tie" if u < 0.1 else ("model_a" if (u < 0.1 + 0.9 * expit(z)) else "model_b")
            if i % 2:                                   # the model in seat b: flip the verdict
                winner = {"model_a": "model_b", "model_b": "model_a"}.get(winner, winner)
                battles.append(Battle(model_a="base", model_b=model, winner=winner, prompt=x,
                                      response_a=base, response_b=ans, judge="j"))
            else:
                battles.append(Battle(model_a=model, model_b="base", winner=winner, prompt=x,
                                      response_a=ans, response_b=base, judge="j"))
    return battles, hard


def test_equals_alpaca_eval_glm_with_given_and_estimated_difficulty():
    battles, hard = _arena()
    lc = length_controlled_win_rate(battles, "base", difficulty=hard)
    for m in ("long", "sharp"):
        ref, coef = _alpaca_reference(_annotations(battles, m), hard)
        assert 100 * lc[m]["lc_win_rate"] == pytest.approx(ref, abs=1e-6)
        assert [-lc[m]["length_coef"], lc[m]["difficulty_coef"], lc[m]["quality_coef"]] == pytest.approx(coef, abs=1e-9)
        assert lc[m]["difficulty_source"] == "given" and lc[m]["glm"] == "length_controlled_noreg"
        assert lc[m]["battles"] == 160
    assert lc["long"]["win_rate"] > lc["long"]["lc_win_rate"] + 0.05      # its length advantage is removed
    est = length_controlled_win_rate(battles, "base")
    for m in ("long", "sharp"):
        gamma = estimate_instruction_difficulty(battles, "base", exclude=m)
        ref, _ = _alpaca_reference(_annotations(battles, m), gamma)
        assert 100 * est[m]["lc_win_rate"] == pytest.approx(ref, abs=1e-6)
        assert est[m]["difficulty_source"] == "estimated" and est[m]["difficulty_from"] == [x for x in ("long", "sharp") if x != m]
    # the estimated difficulty tracks the true one (from the other model's verdicts alone)
    g = estimate_instruction_difficulty(battles, "base", exclude="long")
    assert np.corrcoef([g[x] for x in hard], list(hard.values()))[0, 1] > 0.3


def _length_only(rng, n, model, mean_extra, judge_slope, seat=0):
    battles = []
    for i in range(n):
        lb = int(rng.integers(200, 800))
        lm = max(1, lb + int(rng.normal(mean_extra, 250)))
        y = rng.random() < expit(judge_slope * math.tanh((lm - lb) / 250))      # the judge sees length only
        battles.append(Battle(model_a=model, model_b="base", winner="model_a" if y else "model_b", prompt=f"q{i}",
                              response_a="x" * lm, response_b="y" * lb, judge="j"))
    return battles


def test_a_model_that_wins_only_by_length_is_pulled_to_fifty():
    rng = np.random.default_rng(1)
    battles = _length_only(rng, 1000, "verbose", 300, 3.0)
    r = length_controlled_win_rate(battles, "base")["verbose"]
    assert r["win_rate"] > 0.75
    assert abs(r["lc_win_rate"] - 0.5) < 0.06                   # sd over seeds about 0.03 at this size
    assert r["length_coef"] > 1.5 and r["difficulty_from"] == []
    # the same with a second model in the arena, whose battles give the difficulty
    battles += _length_only(rng, 1000, "other", 0, 0.0)
    r = length_controlled_win_rate(battles, "base")["verbose"]
    assert r["win_rate"] > 0.75 and abs(r["lc_win_rate"] - 0.5) < 0.06 and r["difficulty_from"] == ["other"]


def test_a_shorter_model_of_equal_quality_is_not_penalised():
    rng = np.random.default_rng(2)
    r = length_controlled_win_rate(_length_only(rng, 1000, "terse", -300, 3.0), "base")["terse"]
    assert r["win_rate"] < 0.25                                  # the length-loving judge marks it down
    assert abs(r["lc_win_rate"] - 0.5) < 0.06                    # LC gives the quality back
    r = length_controlled_win_rate(_length_only(rng, 1000, "terse", -300, 0.0), "base")["terse"]
    assert abs(r["win_rate"] - 0.5) < 0.06 and abs(r["lc_win_rate"] - r["win_rate"]) < 0.02


def test_lengths_are_characters_not_words():
    rng = np.random.default_rng(3)
    battles = []
    for i in range(500):                                   # same word count, different word lengths
        words = int(rng.integers(20, 40))
        wb, wm = int(rng.integers(3, 9)), int(rng.integers(3, 14))
        base, ans = " ".join(["b" * wb] * words), " ".join(["m" * wm] * words)
        y = rng.random() < expit(3 * math.tanh((len(ans) - len(base)) / 80))
        battles.append(Battle(model_a="m", model_b="base", winner="model_a" if y else "model_b", prompt=f"q{i}",
                              response_a=ans, response_b=base, judge="j"))
    r = length_controlled_win_rate(battles, "base")["m"]
    assert r["win_rate"] > 0.6 and abs(r["lc_win_rate"] - 0.5) < 0.05 and r["length_coef"] > 1.5
    words = length_controlled_win_rate(battles, "base", length=lambda s: len(s.split()))["m"]
    assert words["length_coef"] == 0.0 and words["lc_win_rate"] == pytest.approx(words["win_rate"], abs=0.01)


def test_bad_input_is_named():
    p, out, base, g = [1.0, 0.0, 0.5, 1.0, 0.0, 1.0], ["aa"] * 6, ["a"] * 6, [0.0] * 6
    with pytest.raises(ValueError, match="output has 5 entries but preference has 6"):
        glm_lc_win_rate(p, out[:5], base, g)
    with pytest.raises(ValueError, match="instruction_difficulty has 4 entries"):
        glm_lc_win_rate(p, out, base, g[:4])
    with pytest.raises(ValueError, match=r"preference\[2\] = 1.5 is not in \[0, 1\]"):
        glm_lc_win_rate([1.0, 0.0, 1.5, 1.0, 0.0, 1.0], out, base, g)
    with pytest.raises(ValueError, match=r"preference\[0\] = nan"):
        glm_lc_win_rate([float("nan")] + p[1:], out, base, g)
    with pytest.raises(ValueError, match=r"preference\[1\] = -0.1"):
        glm_lc_win_rate([1.0, -0.1] + p[2:], out, base, g)
    with pytest.raises(ValueError, match="4 battles against the baseline: the GLM's 5-fold cross-validation"):
        glm_lc_win_rate(p[:4], out[:4], base[:4], g[:4])
    with pytest.raises(ValueError, match=r"output\[1\]: expected the answer's text"):
        glm_lc_win_rate(p, ["a", None] + out[2:], base, g)
    battles, hard = _arena(n=20)
    with pytest.raises(ValueError, match="difficulty: no value for 1 instruction"):
        length_controlled_win_rate(battles, "base", difficulty={k: v for k, v in hard.items() if k != "instruction 3"})
    with pytest.raises(ValueError, match="no battle involves the baseline 'gpt4'"):
        length_controlled_win_rate(battles, "gpt4")
    r = length_controlled_win_rate(battles[:6], "base")            # 3 battles each: no fit, said so
    assert r["long"]["lc_win_rate"] is None and "needs at least 5" in r["long"]["note"]


def test_difficulty_from_a_csv(tmp_path):
    battles, hard = _arena(n=40)
    path = tmp_path / "difficulty.csv"
    path.write_text("instruction,instruction_difficulty\n" + "".join(f"{k},{v!r}\n" for k, v in hard.items()))
    assert read_instruction_difficulty(str(path)) == hard
    assert length_controlled_win_rate(battles, "base", difficulty=path) == length_controlled_win_rate(
        battles, "base", difficulty=hard)
    bad = tmp_path / "bad.csv"
    bad.write_text("idx,value\n0,1.0\n")
    with pytest.raises(ValueError, match=r"expected columns 'instruction' \(or 'prompt'\)"):
        read_instruction_difficulty(str(bad))
    bad.write_text("instruction,difficulty\nx,high\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: difficulty 'high' is not a number"):
        read_instruction_difficulty(str(bad))


def test_the_arena_table_says_where_the_difficulty_came_from(tmp_path, capsys):
    battles, hard = _arena(n=40)
    path = tmp_path / "battles.jsonl"
    path.write_text("".join(json.dumps({k: getattr(b, k) for k in ("model_a", "model_b", "winner", "prompt",
                                                                   "response_a", "response_b")}) + "\n" for b in battles))
    assert main(["arena", "rate", str(path), "--baseline", "base"]) == 0
    text = capsys.readouterr().out
    assert "instruction difficulty estimated" in text and "not comparable with published LC win rates" in text
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("prompt,difficulty\n" + "".join(f"{k},{v!r}\n" for k, v in hard.items()))
    assert main(["arena", "rate", str(path), "--baseline", "base", "--lc-difficulty", str(csv_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["length_controlled"]
    assert out["long"]["difficulty_source"] == "given"
    assert out["long"]["lc_win_rate"] == pytest.approx(
        length_controlled_win_rate(battles, "base", difficulty=hard)["long"]["lc_win_rate"], abs=1e-12)


def test_a_model_that_wins_every_battle_fits_quietly(capfd):
    r = glm_lc_win_rate([1.0] * 9 + [0.5], ["aa"] * 10, ["a"] * 10, [0.0] * 10)
    assert 0.85 < r["lc_win_rate"] < r["win_rate"] == 0.95
    assert r["length_coef"] == 0.0                               # no length variation: no length term
    assert capfd.readouterr().err == ""                          # liblinear's empty-class warnings kept off stderr
