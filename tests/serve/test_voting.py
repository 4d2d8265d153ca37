"""The voting routes: ballots, votes into the store (winner mapped back from the shown order), tokens, bad votes
(4xx, nothing written), the leaderboard, and the battle-candidate file."""

import json
import math
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from scipy.optimize import brentq

from preflab.arena.ratings import rate
from preflab.arena.store import Store
from preflab.serve.app import create_app
from preflab.serve.pairs import Candidate, PairSource

CANDIDATES = [
    {"prompt": "Name a prime.", "responses": {"alpha": "7", "beta": "9", "gamma": "2"}},
    {"prompt": "Capital of Italy?", "responses": {"alpha": "Rome", "beta": "Milan"}},
]
AUTH = {"Authorization": "Bearer tok"}


def model_of(prompt, text):
    [c] = [c for c in CANDIDATES if c["prompt"] == prompt]
    [m] = [m for m, t in c["responses"].items() if t == text]
    return m


@pytest.fixture
def arena(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in CANDIDATES) + "\n")
    store = Store(tmp_path / "arena.db")
    client = TestClient(create_app(store=store, pairs=PairSource.from_jsonl(path, seed=3), vote_token="tok"))
    yield client, store
    store.close()


def test_votes_are_stored_with_the_winner_mapped_back(arena):
    client, store = arena
    expected = {}
    for vote in ["A", "B", "tie", "bothbad", "A", "B", "A", "B"]:
        ballot = client.get("/arena/pair").json()
        assert set(ballot) == {"id", "prompt", "responses"} and set(ballot["responses"]) == {"A", "B"}
        shown_a = model_of(ballot["prompt"], ballot["responses"]["A"])
        shown_b = model_of(ballot["prompt"], ballot["responses"]["B"])
        reply = client.post("/arena/vote", json={"id": ballot["id"], "vote": vote}, headers=AUTH)
        assert reply.status_code == 200, reply.text
        assert reply.json()["shown"] == {"A": shown_a, "B": shown_b}
        winner_model = {"A": shown_a, "B": shown_b}.get(vote)
        assert reply.json()["winner"] == winner_model or (winner_model is None and reply.json()["winner"] in
                                                          ("tie", "tie (bothbad)"))
        expected[ballot["id"]] = (ballot["prompt"], shown_a, shown_b, vote, winner_model)
    rows = {b.id: b for b in store.battles()}
    assert store.count() == len(rows) == len(expected) == 8
    shown_orders = set()
    for ballot_id, (prompt, shown_a, shown_b, vote, winner_model) in expected.items():
        b = rows[ballot_id]
        assert b.judge == "human" and b.prompt == prompt and b.strength == 1
        assert {b.model_a, b.model_b} == {shown_a, shown_b}
        assert b.shown_a_first == (b.model_a == shown_a)
        assert b.response_a == [c for c in CANDIDATES if c["prompt"] == prompt][0]["responses"][b.model_a]
        if vote == "tie":
            assert b.winner == "tie"
        elif vote == "bothbad":
            assert b.winner == "tie (bothbad)"
        else:
            assert getattr(b, b.winner) == winner_model
        shown_orders.add(b.shown_a_first)
    assert shown_orders == {True, False}      # both shown orders occurred, so the mapping was exercised both ways


def test_tokens_and_bad_votes_write_nothing(arena):
    client, store = arena
    ballot = client.get("/arena/pair").json()
    good = {"id": ballot["id"], "vote": "A"}

    def refused(status, needle, **kwargs):
        reply = client.post("/arena/vote", **kwargs)
        assert reply.status_code == status, reply.text
        assert needle in reply.json()["error"]["message"]
        assert store.count() == 0

    refused(401, "needs the voting token", json=good)
    refused(403, "voting token sent is wrong", json=good, headers={"Authorization": "Bearer nope"})
    refused(403, "voting token sent is wrong", json=dict(good, token="nope"))
    refused(400, "not valid JSON", content=b'{"id": "x", "vote": ', headers=AUTH)
    refused(400, "must be a JSON object, got list", json=[good], headers=AUTH)
    refused(400, "field 'vote' is 'C'; it must be one of 'A', 'B', 'tie', 'bothbad'", json=dict(good, vote="C"),
            headers=AUTH)
    refused(400, "field 'id' must be the ballot id", json={"vote": "A"}, headers=AUTH)
    refused(400, "unknown field(s) 'model'", json=dict(good, model="alpha"), headers=AUTH)
    refused(404, "unknown ballot id 'forged'", json={"id": "forged", "vote": "A"}, headers=AUTH)
    # the token may come as a field too; then the ballot is spent
    assert client.post("/arena/vote", json=dict(good, token="tok")).status_code == 200
    assert store.count() == 1
    again = client.post("/arena/vote", json=dict(good, vote="B"), headers=AUTH)
    assert again.status_code == 409 and "already been voted on" in again.json()["error"]["message"]
    assert store.count() == 1 and store.battles()[0].winner in ("model_a", "model_b")


def test_voting_is_closed_without_a_token(tmp_path):
    store = Store(":memory:")
    client = TestClient(create_app(store=store, pairs=PairSource([Candidate("q", {"x": "1", "y": "2"})])))
    ballot = client.get("/arena/pair").json()
    reply = client.post("/arena/vote", json={"id": ballot["id"], "vote": "A"}, headers=AUTH)
    assert reply.status_code == 403 and "--vote-token" in reply.json()["error"]["message"]
    assert store.count() == 0


def test_leaderboard_is_rate_of_the_human_votes(arena):
    client, store = arena
    empty = client.get("/arena/leaderboard").json()
    assert (empty["battles"], empty["ratings"]) == (0, {})
    ballot = client.get("/arena/pair").json()
    client.post("/arena/vote", json={"id": ballot["id"], "vote": "A"}, headers=AUTH)
    one = client.get("/arena/leaderboard").json()
    # a model that never lost has no maximum-likelihood rating: the board falls back to a prior of 1
    assert one["battles"] == 1 and one["prior"] == 1.0
    assert one["ratings"] == rate(store.battles(), prior=1.0).table
    # by hand: the winner's strength t = -the loser's solves d/dt [log sigmoid(2t) - t^2] = 0, i.e. t = 1 - sigmoid(2t)
    t = brentq(lambda t: t - 1 + 1 / (1 + math.exp(-2 * t)), 0, 1)
    winner = store.battles()[0].model_a if store.battles()[0].winner == "model_a" else store.battles()[0].model_b
    assert one["ratings"][winner]["rating"] == pytest.approx(1000 + 400 / math.log(10) * t, abs=1e-6)
    for i, vote in enumerate(["A", "B", "tie", "B", "A", "A", "B", "B", "A", "B", "tie", "A"] * 2):
        ballot = client.get("/arena/pair").json()
        assert client.post("/arena/vote", json={"id": ballot["id"], "vote": vote}, headers=AUTH).status_code == 200
    board = client.get("/arena/leaderboard").json()
    table = rate(store.battles(judge="human"), method="bt", interval="sandwich", prior=board["prior"]).table
    assert board["battles"] == 25 and board["ratings"] == table
    assert set(board["ratings"]) == {"alpha", "beta", "gamma"}
    assert sum(r["rating"] for r in board["ratings"].values()) == pytest.approx(3000)
    assert all(r["lower"] <= r["rating"] <= r["upper"] for r in board["ratings"].values())
    elo = client.get("/arena/leaderboard", params={"method": "elo", "interval": "none"}).json()
    assert elo["ratings"] == rate(store.battles(judge="human"), method="elo", interval="none").table
    bad = client.get("/arena/leaderboard", params={"method": "glicko"})
    assert bad.status_code == 400 and "'glicko' is not one of bt, davidson, elo" in bad.json()["error"]["message"]


def test_page_is_served_without_model_names(arena):
    client, _ = arena
    page = client.get("/arena")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert all(name not in page.text for name in ("alpha", "beta", "gamma"))
    assert client.get("/", follow_redirects=False).headers["location"] == "/arena"


def test_pairs_are_drawn_uniformly_over_prompts_then_model_pairs():
    source = PairSource([Candidate(c["prompt"], c["responses"]) for c in CANDIDATES], seed=0)
    n = 12000
    draws = [source.draw() for _ in range(n)]
    counts = Counter((p.prompt, frozenset((p.model_a, p.model_b))) for p in draws)
    # P(prompt) = 1/2; P(pair | first prompt) = 1/3 -> 1/6 each; the second prompt has one pair -> 1/2
    expected = {("Name a prime.", frozenset(pair)): 1 / 6 for pair in [("alpha", "beta"), ("alpha", "gamma"),
                                                                      ("beta", "gamma")]}
    expected[("Capital of Italy?", frozenset(("alpha", "beta")))] = 1 / 2
    assert set(counts) == set(expected)
    for key, p in expected.items():
        sd = (p * (1 - p) / n) ** 0.5
        assert abs(counts[key] / n - p) < 4 * sd
    shown_first = sum(p.shown_a_first for p in draws) / n
    a_first_alphabetically = sum(p.model_a < p.model_b for p in draws) / n
    assert abs(shown_first - 0.5) < 4 * 0.5 / n ** 0.5 and abs(a_first_alphabetically - 0.5) < 4 * 0.5 / n ** 0.5
    again = PairSource([Candidate(c["prompt"], c["responses"]) for c in CANDIDATES], seed=0)
    assert [again.draw() for _ in range(50)] == draws[:50]          # seeded


@pytest.mark.parametrize("lines, message", [
    (['{"prompt": "q", "responses": {"x": "1", "y": "2"}}', '{"prompt": "q", "responses": '],
     "pairs.jsonl:2: not valid JSON"),
    (['', '{"prompt": "", "responses": {"x": "1", "y": "2"}}'], "pairs.jsonl:2: key 'prompt' must be a non-empty"),
    (['{"prompt": "q", "responses": ["x", "y"]}'], "pairs.jsonl:1: key 'responses' must be an object"),
    (['{"prompt": "q", "responses": {"x": "1", "y": 2}}'], "pairs.jsonl:1: key 'responses.y' must be a string"),
    (['{"prompt": "q", "responses": {"x": "1"}}'], "pairs.jsonl:1: key 'responses' has 1 model ('x')"),
    (['', '  '], "pairs.jsonl: holds no battle candidates"),
])
def test_bad_candidate_files_name_the_line(tmp_path, lines, message):
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError) as err:
        PairSource.from_jsonl(path)
    assert message in str(err.value)


def test_the_leaderboard_is_fitted_again_only_after_a_new_battle(arena, monkeypatch):
    import preflab.serve.voting as voting

    client, store = arena
    fits = []
    real = voting.leaderboard
    monkeypatch.setattr(voting, "leaderboard", lambda *a, **k: fits.append(k["method"]) or real(*a, **k))
    for _ in range(2):
        ballot = client.get("/arena/pair").json()
        client.post("/arena/vote", json={"id": ballot["id"], "vote": "A"}, headers=AUTH)
    first = [client.get("/arena/leaderboard").json() for _ in range(3)]
    assert fits == ["bt"] and first[0] == first[2]                 # three page polls, one fit
    client.get("/arena/leaderboard", params={"method": "elo", "interval": "none"})
    assert fits == ["bt", "elo"]
    ballot = client.get("/arena/pair").json()
    client.post("/arena/vote", json={"id": ballot["id"], "vote": "B"}, headers=AUTH)
    after = client.get("/arena/leaderboard").json()
    assert fits == ["bt", "elo", "bt"] and after["battles"] == 3
    assert after["ratings"] == rate(store.battles(judge="human"), prior=after["prior"]).table
