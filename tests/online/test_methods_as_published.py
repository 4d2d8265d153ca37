"""The online methods as their papers' code runs them, and the evaluation numbers by hand.

Each test here failed on the code before issue 12's fixes: Nash-MD trained on the winner, INPO and MNPO
were compared at different log-prob scales and step sizes, MNPO's history was fixed and unordered, and the
evaluation numbers (KL, win rates, pool gap, response gap) were pinned by no test.
"""

import numpy as np
import pytest
import torch
import yaml

from preflab.objectives import ScoreBatch, get_objective
from preflab.online import build_round, get_method
from preflab.online.evaluate import player_gap, round_metrics
from preflab.online.loop import _opponents
from preflab.tasks import get_task

PROMPT = [1, 5, 6]
Y, Y2 = [11, 2], [12, 2]


# -- Nash-MD: slot 0 is y ~ pi_t, and its step lowers log pi(y) when y' wins ----------------------------------

def test_nash_md_keeps_the_policy_sample_first_and_lowers_it_when_the_mixture_sample_wins():
    P = np.array([[0.5, 0.3], [0.7, 0.5]])                 # y' (from the mixture) beats y with probability 0.7
    (ex,) = build_round(get_method("nash_md"), [PROMPT], [[Y, Y2]], [P], np.random.default_rng(0))
    assert ex.completion_ids == [Y, Y2]                     # never reordered
    assert ex.prefs[0][1] == pytest.approx(0.3)
    # TRL's NashMD loss by hand at the policy == reference point (the KL term's weight sg(log ratio) is 0):
    # loss = -(p - 1/2) sum_t log pi(y_t), so d loss / d log pi(y_t) = -(0.3 - 0.5) = +0.2 per token:
    # gradient descent lowers log pi(y)
    tok = torch.tensor([[[-1.0, -2.0], [-1.5, -0.5]]], dtype=torch.float64, requires_grad=True)
    batch = ScoreBatch(policy_logps=tok.sum(-1), ref_logps=tok.detach().sum(-1), token_logps=tok,
                       ref_token_logps=tok.detach().clone(), prefs=torch.tensor([ex.prefs], dtype=torch.float64))
    get_objective("nash_md", beta=0.1)(batch).loss.backward()
    torch.testing.assert_close(tok.grad[0, 0], torch.tensor([0.2, 0.2], dtype=torch.float64))
    assert torch.all(tok.grad[0, 1] == 0)                   # y' enters only through p


# -- MNPO's opponents: the last n policies, most recent first, weights aligned; EO-MNPO's externals -----------

def test_td_mnpo_takes_the_last_n_policies_most_recent_first(tmp_path):
    h = [tmp_path / n for n in ("sft", "r0", "r1", "r2")]
    mnpo = get_method("mnpo")
    assert _opponents("mnpo", mnpo, {}, h) == (h[:0:-1][:2], None)           # default n = 2: pi_t, pi_{t-1}
    assert _opponents("mnpo", mnpo, {"history": 3, "weights": [3, 2, 1]}, h) == ([h[3], h[2], h[1]], [3, 2, 1])
    # round 1: only the SFT policy exists; the missing opponents' weights are dropped
    assert _opponents("mnpo", mnpo, {"history": 3, "weights": [3, 2, 1]}, h[:1]) == ([h[0]], [3])
    assert _opponents("inpo", get_method("inpo"), {}, h) == ([h[3]], None)
    with pytest.raises(ValueError, match="2 weights for 3 past policies"):
        _opponents("mnpo", mnpo, {"history": 3, "weights": [1, 1]}, h)
    with pytest.raises(ValueError, match="history applies to mnpo"):
        _opponents("inpo", get_method("inpo"), {"history": 2}, h)


def test_eo_mnpo_adds_fixed_external_checkpoints(tmp_path):
    ext = tmp_path / "external"
    ext.mkdir()
    (ext / "config.json").write_text("{}")
    h = [tmp_path / "sft", tmp_path / "r0"]
    got = _opponents("eo_mnpo", get_method("eo_mnpo"), {"external": [str(ext)], "weights": [0.6, 0.4]}, h)
    assert got == ([h[1], ext], [0.6, 0.4])
    with pytest.raises(ValueError, match="eo_mnpo needs external opponents"):
        _opponents("eo_mnpo", get_method("eo_mnpo"), {}, h)
    with pytest.raises(ValueError, match="not a model folder"):
        _opponents("eo_mnpo", get_method("eo_mnpo"), {"external": [str(tmp_path / "nowhere")]}, h)


def test_inpo_and_mnpo_share_one_scale():
    inpo, mnpo = get_method("inpo").params, get_method("mnpo").params
    assert inpo["average_logps"] and mnpo["average_logps"]
    assert inpo["eta"] == mnpo["eta"] == 0.0075 and inpo["tau"] / inpo["eta"] == pytest.approx(mnpo["ratio"])


# -- the evaluation numbers, against hand computation ---------------------------------------------------------

@pytest.fixture(scope="module")
def two_policies():
    task = get_task("heterogeneous")
    return task, task.tokenizer(), task.model(seed=0).eval(), task.model(seed=1).eval()


def _sum_logp(model, prompt, completion):
    """log pi(completion | prompt) by one plain forward pass and a full log-softmax."""
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].double(), -1)
    return sum(float(logp[len(prompt) - 1 + t, c]) for t, c in enumerate(completion))


def test_round_metrics_by_hand(two_policies):
    task, tok, policy, ref = two_policies
    eos = tok.eos_token_id
    prompts = task.prompts()[:2]
    prompt_ids = [tok(p)["input_ids"] for p in prompts]
    # three samples per prompt (so a KL divided by the number of prompts would be 1.5x too large)
    ref_texts = [["formal formal formal", "a", "casual"], ["precise", "casual casual", "b c"]]
    mid_texts = [["formal", "casual casual casual casual", "x"], ["b", "c", "precise precise precise"]]
    mine = [["formal formal", "casual", "a b"], ["precise precise", "casual", "b"]]
    encode = lambda texts: [[tok(" " + t, add_special_tokens=False)["input_ids"] + [eos] for t in ts] for ts in texts]  # noqa: E731
    history = [(encode(ref_texts), ref_texts), (encode(mid_texts), mid_texts), (encode(mine), mine)]
    from preflab.oracles import RewardOracle
    oracle = RewardOracle(lambda prompt, response: float(len(response)), temperature=2.0, name="length")
    s = lambda d: 1 / (1 + np.exp(-d / 2.0))                                 # noqa: E731
    P = lambda a, b: s(len(a) - len(b))                                      # noqa: E731

    row = round_metrics(oracle, prompts, prompt_ids, policy, ref, history, tok.pad_token_id)

    def win(xs, ys):       # mean P(x_ij > y_ij) over prompts i and slots j
        return np.mean([P(x, y) for xr, yr in zip(xs, ys) for x, y in zip(xr, yr)])

    assert row["win_rate_vs_ref"] == pytest.approx(win(mine, ref_texts), abs=1e-12)
    assert row["win_rate_vs_rounds"] == pytest.approx({"sft": win(mine, ref_texts), "round_1": win(mine, mid_texts)},
                                                      abs=1e-12)
    # the pool gap: the best earlier policy's win rate *against* the evaluated one, 2 w - 1, floored at 0
    best_against = max(win(ref_texts, mine), win(mid_texts, mine))
    assert best_against > 0.5                                               # so the direction matters here
    assert row["duality_gap"] == pytest.approx(2 * best_against - 1, abs=1e-12)
    # the response gap: per prompt, the best response seen anywhere against the policy's samples
    gaps = []
    for i in range(2):
        cands = set(ref_texts[i]) | set(mid_texts[i]) | set(mine[i])
        gaps.append(2 * max(np.mean([P(y, m) for m in mine[i]]) for y in cands) - 1)
    assert row["response_gap"] == pytest.approx(np.mean(gaps), abs=1e-12)
    # KL: the mean over all six responses of log pi(y) - log ref(y), each a plain forward pass
    per_response = [_sum_logp(policy, p, c) - _sum_logp(ref, p, c) for p, cs in zip(prompt_ids, encode(mine)) for c in cs]
    assert row["kl"] == pytest.approx(np.mean(per_response), rel=1e-4)


def test_player_gap_by_hand():
    from preflab.oracles import RewardOracle

    oracle = RewardOracle(lambda prompt, response: float(len(response)), temperature=1.0, name="length")
    s = lambda d: 1 / (1 + np.exp(-d))                                      # noqa: E731
    # one prompt; the player says "ab", "a"; the two opponents say "abc" and "a", "abcd"
    mine, opp1, opp2 = [["ab", "a"]], [["abc"]], [["a", "abcd"]]
    theirs = ["abc", "a", "abcd"]
    value = lambda y: np.mean([s(len(y) - len(t)) for t in theirs])         # noqa: E731
    best = max(value(y) for y in ["ab", "a", "abcde"])                      # "abcde" was seen elsewhere
    expected = best - np.mean([value("ab"), value("a")])
    assert player_gap(oracle, ["p"], [["abcde"]], mine, [opp1, opp2]) == pytest.approx(expected, abs=1e-12)


# -- the loop: MNPO with one opponent trains exactly like INPO; EGPO trains with the extragradient ------------

def _weights(path):
    from safetensors.torch import load_file
    return load_file(str(path / "model.safetensors"))


def test_mnpo_with_one_opponent_trains_exactly_like_inpo_egpo_takes_the_extragradient_eo_mnpo_its_externals(tmp_path):
    from preflab.online import OnlineConfig, run_online

    external = tmp_path / "external"
    get_task("heterogeneous").model(seed=5).save_pretrained(external)
    cfg = OnlineConfig(methods=["inpo", "mnpo", "egpo", "nash_md", "eo_mnpo"], rounds=1, prompts_per_round=12,
                       steps_per_round=4, batch_size=4, eval_samples=4, sft_examples=200, sft_steps=10,
                       output_dir=str(tmp_path / "run"), checkpoint_every=None, progress=False,
                       params={"mnpo": {"history": 1}, "egpo": {"lr": 2e-3},
                               "eo_mnpo": {"external": [str(external)], "weights": [0.75, 0.25]}})
    metrics = run_online(cfg, log=lambda s: None)
    run = tmp_path / "run"
    a, b = _weights(run / "inpo" / "round_0" / "final"), _weights(run / "mnpo" / "round_0" / "final")
    sft = _weights(run / "sft")
    assert any(not torch.equal(a[k], sft[k]) for k in a)                    # it trained
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-7)
    for name in ("inpo", "mnpo", "egpo", "nash_md", "eo_mnpo"):
        assert metrics["methods"][name][0]["policy"] == f"{name}/round_0/final"
    eo = yaml.safe_load((run / "eo_mnpo" / "round_0" / "config.yaml").read_text())
    assert eo["opponents"] == [str(run / "sft"), str(external)]                 # pi_t, then the external model
    assert eo["objective"]["params"]["weights"] == [0.75, 0.25]
    settings = {n: yaml.safe_load((run / n / "round_0" / "config.yaml").read_text()) for n in ("egpo", "inpo")}
    assert settings["egpo"]["optim"]["extragradient"] is True and settings["inpo"]["optim"]["extragradient"] is False
    assert settings["egpo"]["optim"]["lr"] == 2e-3 and settings["inpo"]["optim"]["lr"] == cfg.lr   # a method's own lr


def test_ht_mnpo_players_train_against_each_other_with_their_own_oracles(tmp_path):
    from preflab.online import OnlineConfig, run_online

    cfg = OnlineConfig(methods=["ht_mnpo"], rounds=2, prompts_per_round=12, steps_per_round=3, batch_size=4,
                       eval_samples=4, sft_examples=200, sft_steps=10, output_dir=str(tmp_path / "run"),
                       params={"ht_mnpo": {"players": 2}}, checkpoint_every=None, progress=False)
    rows = run_online(cfg, log=lambda s: None)["methods"]["ht_mnpo"]
    run = tmp_path / "run" / "ht_mnpo"
    assert [r["round"] for r in rows] == [1, 2]
    for r, row in enumerate(rows):
        players = row["players"]
        assert [p["oracle"] for p in players] == ["heterogeneous-type_1", "heterogeneous-type_2"]
        assert row["win_rate_vs_ref"] == pytest.approx(np.mean([p["win_rate_vs_ref"] for p in players]))
        assert all(p["gap"] >= 0 and 0 <= p["win_rate_vs_ref_own"] <= 1 for p in players)
        assert row["policy"] == players[0]["policy"] == f"ht_mnpo/player_0/round_{r}/final"
    # round 2: each player's opponent is the other player's round-1 policy
    cfg0 = yaml.safe_load((run / "player_0" / "round_1" / "config.yaml").read_text())
    cfg1 = yaml.safe_load((run / "player_1" / "round_1" / "config.yaml").read_text())
    assert cfg0["opponents"] == [str(run / "player_1" / "round_0" / "final")]
    assert cfg1["opponents"] == [str(run / "player_0" / "round_0" / "final")]
    # the two players were labelled by different annotator types: their label logs differ
    assert (run / "player_0" / "labels.jsonl").read_text() != (run / "player_1" / "labels.jsonl").read_text()
    with pytest.raises(ValueError, match="players=4 but only 3 oracles"):
        run_online(OnlineConfig(methods=["ht_mnpo"], rounds=1, output_dir=str(tmp_path / "run"),
                                params={"ht_mnpo": {"players": 4}}), log=lambda s: None)
