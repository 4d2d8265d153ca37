"""LLMJudge against a fake OpenAI-compatible server on 127.0.0.1: verdict parsing, both-order combination,
position-bias numbers, logprob probabilities, retries with backoff, permanent failures and LabelLog resume."""

import json
import math
import time

import numpy as np
import pytest

pytest.importorskip("openai")

from preflab.oracles import LabelLog, LLMJudge, OracleError  # noqa: E402

from .fake_judge import FakeJudgeServer  # noqa: E402


def judge(server, **kw):
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 5.0)
    return LLMJudge("fake-judge", base_url=server.url, **kw)


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# pairs (first, second) with qualities; the server's judge favours position A by `bias`
PAIRS = [(3, 1), (1, 3), (2, 2), (5, 1), (1, 2)]


def texts(pairs):
    prompts = [f"question {i}" for i in range(len(pairs))]
    first = [f"answer with q={a}" for a, _ in pairs]
    second = [f"other answer with q={b}" for _, b in pairs]
    return prompts, first, second


def test_both_orders_are_combined_and_position_bias_is_reported():
    with FakeJudgeServer(bias=1.5, reply="After careful thought, the better answer is {}.") as server:
        j = judge(server, concurrency=3)
        p = j.compare(*texts(PAIRS))
        # verdict A iff q_A - q_B + 1.5 > 0. Shown (first, second): first wins for (3,1),(2,2),(5,1),(1,2);
        # shown (second, first): "second" wins (sits in A) for (1,3),(2,2),(1,2).
        # p_ab = [1, 0, 1, 1, 1], p_ba = [0, 1, 1, 0, 1]; combined (p_ab + 1 - p_ba) / 2:
        assert p.tolist() == [1.0, 0.0, 0.5, 1.0, 0.5]
        assert server.n_calls == 10
        report = j.position_bias()
        assert report.n_items == 5
        assert report.first_position_win_rate == pytest.approx(7 / 10)
        assert report.followed_position == pytest.approx(2 / 5)     # items (2,2) and (1,2)
        assert report.followed_first == pytest.approx(2 / 5)
        assert report.followed_second == 0.0
        assert report.consistent == pytest.approx(3 / 5)
        assert report.mean_order_gap == pytest.approx(2 / 5)        # |1 - 0| on two items of five
        # the request: greedy, the model's name, both answers in the template, logprobs asked for
        body = server.calls[0]["body"]
        assert body["model"] == "fake-judge" and body["temperature"] == 0.0 and body["logprobs"] is True
        assert body["messages"][0]["role"] == "system" and "[Answer A]" in body["messages"][-1]["content"]
        shown = sorted((c["qa"], c["qb"]) for c in server.calls)
        assert shown == sorted([(a, b) for a, b in PAIRS] + [(b, a) for a, b in PAIRS])


def test_one_order_returns_the_raw_verdict_and_refuses_a_bias_report():
    with FakeJudgeServer(bias=1.5) as server:
        j = judge(server, both_orders=False)
        assert j.compare(*texts(PAIRS)).tolist() == [1.0, 0.0, 1.0, 1.0, 1.0]
        assert server.n_calls == 5
        with pytest.raises(ValueError, match="both_orders=True"):
            j.position_bias()


def test_ties_and_an_unbiased_judge():
    with FakeJudgeServer(bias=0.0) as server:
        j = judge(server)
        assert j.compare(*texts([(2, 2), (4, 1)])).tolist() == [0.5, 1.0]     # "tie" both ways -> 1/2
        report = j.position_bias()
        assert report.first_position_win_rate == pytest.approx(0.5) and report.consistent == 1.0


def test_logprobs_give_probabilities():
    pairs = [(1, 0), (0, 0), (0, 2)]
    bias = 0.8
    with FakeJudgeServer(bias=bias, logprobs=True) as server:
        j = judge(server)
        p = j.compare(*texts(pairs))
        p_ab = [sigmoid(a - b + bias) for a, b in pairs]
        p_ba = [sigmoid(b - a + bias) for a, b in pairs]
        want = [(x + 1 - y) / 2 for x, y in zip(p_ab, p_ba)]
        np.testing.assert_allclose(p, want, rtol=1e-12)
        assert p[1] == pytest.approx(0.5)              # equal quality: the bias cancels exactly
        assert j.stats["from_logprobs"] == 6
        report = j.position_bias()
        assert report.first_position_win_rate == pytest.approx(np.mean(p_ab + p_ba))
        assert report.followed_first == pytest.approx(1 / 3)     # only the equal pair: A both times


def test_server_errors_are_retried_with_exponential_backoff():
    with FakeJudgeServer(fail_first=3, reply="{}") as server:
        j = judge(server, concurrency=1, max_retries=3, backoff=0.05)
        p = j.compare(*texts([(3, 1)]))
        assert p.tolist() == [1.0]
        assert server.n_calls == 5                       # 3 failures + the retry that worked + the other order
        assert [c.get("status") for c in server.calls] == [500, 500, 500, 200, 200]
        t = [c["t"] for c in server.calls]
        gaps = np.diff(t)[:3]
        # waits of 0.05, 0.1, 0.2 s after failures 1, 2, 3 (plus request time): doubling, not constant
        assert gaps[0] >= 0.05 and gaps[1] >= 0.10 and gaps[2] >= 0.20
        assert j.stats["retries"] == 3


def test_timeouts_are_retried():
    with FakeJudgeServer(hang_first=1, hang_seconds=3.0) as server:
        j = judge(server, concurrency=1, timeout=0.3, max_retries=2)
        start = time.monotonic()
        assert j.compare(*texts([(1, 4)])).tolist() == [0.0]
        assert time.monotonic() - start < 2.5             # gave up on the hanging request, did not wait for it
        assert server.n_calls == 3 and j.stats["retries"] == 1


def test_client_errors_are_not_retried():
    with FakeJudgeServer(fail_first=100, status=400) as server:
        j = judge(server, concurrency=1, max_retries=5)
        with pytest.raises(OracleError, match=r"item 0 .* failed after 1 try: BadRequestError.*not retried") as info:
            j.compare(*texts([(1, 2)]))
        assert info.value.tries == 1 and server.n_calls == 1


def test_unparsed_reply():
    with FakeJudgeServer(reply="Hmm, hard to say ({} maybe?) -- no idea.") as server:
        # "(A maybe?)" is no verdict the parser trusts: the default counts it and returns 1/2
        j = judge(server, concurrency=1)
        p = j.compare(*texts([(3, 1)]))
        assert p.tolist() == [0.5] and j.stats["unparsed"] == 2
        strict = judge(server, concurrency=1, on_unparsed="raise", max_retries=4)
        calls = server.n_calls
        with pytest.raises(OracleError, match="after 1 try.*no verdict"):
            strict.compare(*texts([(3, 1)]))
        assert server.n_calls == calls + 1              # an unparsable reply is not retried


def test_permanent_failure_keeps_labels_and_resume_asks_only_the_missing(tmp_path):
    pairs = [(3, 1), (1, 3), (2, 5), (4, 0), (0, 1), (6, 2)]
    prompts, first, second = texts(pairs)
    path = tmp_path / "labels.jsonl"
    # requests 0..5 succeed (items 0, 1, 2 in both orders, one request at a time), then every request fails
    with FakeJudgeServer(fail_from=6) as server:
        j = judge(server, concurrency=1, max_retries=2)
        with pytest.raises(OracleError) as info:
            LabelLog(path).label(j, prompts, first, second, batch_size=4)
        msg = str(info.value)
        assert "item 3" in msg and "failed after 3 tries" in msg and "3 new label(s) were saved" in msg, msg
        assert info.value.saved == 3 and info.value.item == 3 and info.value.tries == 3
        assert server.n_calls == 6 + 3                       # six good requests, three tries for item 3
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert [r["prompt"] for r in rows] == prompts[:3] and [r["p"] for r in rows] == [1.0, 0.0, 0.0]

        # "restart": a new process would build a new log on the same file; the server works again
        server.fail_from = None
        before = server.n_calls
        log = LabelLog(path)
        p = log.label(judge(server, concurrency=2), prompts, first, second, batch_size=4)
        assert server.n_calls - before == 2 * 3              # only items 3, 4, 5, each in both orders
        assert log.asked == 3
        assert p.tolist() == [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
        assert len(path.read_text().splitlines()) == 6
        # everything is in the log now: nothing is asked
        again = LabelLog(path)
        assert again.label(judge(server), prompts, first, second).tolist() == p.tolist() and again.asked == 0
        assert server.n_calls - before == 6


def test_concurrent_failure_saves_what_was_completed(tmp_path):
    pairs = [(i % 3, 2 - i % 3) for i in range(12)]
    prompts, first, second = texts(pairs)
    path = tmp_path / "labels.jsonl"
    with FakeJudgeServer(fail_from=9) as server:
        j = judge(server, concurrency=4, max_retries=1)
        with pytest.raises(OracleError) as info:
            LabelLog(path).label(j, prompts, first, second, batch_size=100)
        saved = info.value.saved
        assert saved == len(path.read_text().splitlines())
        assert 1 <= saved <= 4                                  # at most 9 good requests: at most 4 whole items
        completed = info.value.__cause__.completed
        assert np.isfinite(completed).sum() == saved
        server.fail_from = None
        before = server.n_calls
        p = LabelLog(path).label(judge(server, concurrency=4), prompts, first, second)
        assert server.n_calls - before == 2 * (12 - saved)
        want = [1.0 if a > b else 0.0 if a < b else 0.5 for a, b in pairs]
        assert p.tolist() == want
