"""The human-voting page: double-blind pairwise votes into the arena store, and a live leaderboard.

Routes (all under ``/arena``):

- ``GET /arena``: the page (:mod:`~preflab.serve.voting_page`): a prompt, two anonymous responses A and B,
  buttons A / B / Tie / Both bad, the leaderboard with intervals; the model names appear only after a vote;
- ``GET /arena/pair``: a new ballot ``{"id", "prompt", "responses": {"A": ..., "B": ...}}``; the server keeps
  which model is behind each side (the order is drawn server-side by :class:`~preflab.serve.pairs.PairSource`);
- ``POST /arena/vote``: ``{"id": ..., "vote": "A" | "B" | "tie" | "bothbad"}`` with the voting token as
  ``Authorization: Bearer <token>`` (or a ``"token"`` field). It is stored as
  ``Battle(judge="human", id=<ballot id>, shown_a_first=..., winner=<the vote mapped back to model_a/model_b>)``
  and answered with the models' names. A missing token is a 401, a wrong one a 403, bad JSON, an unknown
  vote or a missing id a 400, an unknown ballot a 404, a ballot already voted a 409; none of them writes;
- ``GET /arena/leaderboard``: ``rate(...)`` of the stored human votes (Bradley-Terry with 95% sandwich
  intervals by default; ``?method=davidson|elo&interval=bootstrap&level=0.9`` choose others) as JSON.

>>> from fastapi.testclient import TestClient
>>> from preflab.arena.store import Store
>>> from preflab.serve.pairs import Candidate, PairSource
>>> from preflab.serve.app import create_app
>>> store = Store(":memory:")
>>> pairs = PairSource([Candidate("2+2?", {"x": "4", "y": "5"})], seed=1)
>>> client = TestClient(create_app(store=store, pairs=pairs, vote_token="t"))
>>> ballot = client.get("/arena/pair").json()
>>> ballot["prompt"], ballot["responses"]
('2+2?', {'A': '5', 'B': '4'})
>>> reply = client.post("/arena/vote", json={"id": ballot["id"], "vote": "B"}, headers={"Authorization": "Bearer t"})
>>> reply.json()["shown"], reply.json()["winner"]          # B was x's answer
({'A': 'y', 'B': 'x'}, 'x')
>>> [(b.model_a, b.model_b, b.winner, b.shown_a_first, b.judge, b.id == ballot["id"]) for b in store.battles()]
[('x', 'y', 'model_a', False, 'human', True)]
>>> again = client.post("/arena/vote", json={"id": ballot["id"], "vote": "A"}, headers={"Authorization": "Bearer t"})
>>> again.status_code, again.json()["error"]["message"].split(";")[0] == f"ballot {ballot['id']!r} has already been voted on"
(409, True)
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import OrderedDict
from typing import Optional

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from .auth import bearer, check_token
from .errors import APIError
from .pairs import Pair, PairSource
from .voting_page import VOTING_PAGE

__all__ = ["voting_router", "Ballots", "VOTES", "leaderboard"]

VOTES = ("A", "B", "tie", "bothbad")
_FIELDS = {"id", "vote", "token"}


class Ballots:
    """Pairs handed out and not yet voted on (the newest ``limit``), and the ids already voted."""

    def __init__(self, limit: int = 100_000):
        self.limit = limit
        self._open: "OrderedDict[str, Pair]" = OrderedDict()
        self._voted: "OrderedDict[str, None]" = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, pair: Pair) -> str:
        ballot = uuid.uuid4().hex
        with self._lock:
            self._open[ballot] = pair
            while len(self._open) > self.limit:
                self._open.popitem(last=False)
        return ballot

    def claim(self, ballot: str) -> Pair:
        """Take an open ballot (so that no second vote can use it at the same time); 404/409 when there is none."""
        with self._lock:
            if ballot in self._voted:
                raise APIError(409, f"ballot {ballot!r} has already been voted on; each ballot takes one vote, "
                                    "fetch a new pair from GET /arena/pair", param="id", code="already_voted")
            pair = self._open.pop(ballot, None)
        if pair is None:
            raise APIError(404, f"unknown ballot id {ballot!r}: it was not issued by this server (or has expired); "
                                "fetch a pair from GET /arena/pair and vote with its id", param="id",
                           code="unknown_ballot")
        return pair

    def done(self, ballot: str) -> None:
        with self._lock:
            self._voted[ballot] = None
            while len(self._voted) > self.limit:
                self._voted.popitem(last=False)

    def reopen(self, ballot: str, pair: Pair) -> None:
        with self._lock:
            self._open[ballot] = pair


def leaderboard(store, *, judge: Optional[str] = "human", method: str = "bt", interval: str = "sandwich",
                level: float = 0.95, fallback_prior: float = 1.0) -> dict:
    """Ratings of the battles in ``store`` by ``judge`` (None: all) as ``rate(...).as_json()``, plus ``battles``
    (the count) and ``prior``. While the maximum-likelihood ratings do not exist (a model that never lost, as
    after the first vote), a Gaussian prior ``fallback_prior/2 |theta|^2`` is used and ``prior`` says so."""
    from preflab.arena.ratings import rate

    battles = store.battles(judge=judge)
    out = {"battles": len(battles), "judge": judge, "method": method, "interval": interval, "level": level,
           "prior": 0.0, "ratings": {}}
    if not battles:
        return out
    try:
        result = rate(battles, method=method, interval=interval, level=level)
    except ValueError:
        result = rate(battles, method=method, interval=interval, level=level, prior=fallback_prior)
        out["prior"] = fallback_prior
    out.update({k: v for k, v in result.as_json().items() if k not in out or k == "ratings"})
    return out


def _parse_vote(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise APIError(400, f"the vote is not valid JSON ({err}); send "
                            '{"id": "<ballot id>", "vote": "A" | "B" | "tie" | "bothbad"}') from None
    if not isinstance(body, dict):
        raise APIError(400, f"the vote must be a JSON object, got {type(body).__name__}; send "
                            '{"id": "<ballot id>", "vote": "A" | "B" | "tie" | "bothbad"}')
    return body


def _check_fields(body: dict) -> tuple:
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise APIError(400, f"unknown field(s) {', '.join(map(repr, unknown))} in the vote; it takes 'id', 'vote' "
                            "and optionally 'token'", param=unknown[0])
    ballot, vote = body.get("id"), body.get("vote")
    if not isinstance(ballot, str) or not ballot:
        raise APIError(400, f"field 'id' must be the ballot id from GET /arena/pair (a string), got {ballot!r}",
                       param="id")
    if vote not in VOTES:
        raise APIError(400, f"field 'vote' is {vote!r}; it must be one of {', '.join(map(repr, VOTES))}",
                       param="vote")
    return ballot, vote


def voting_router(store, pairs: Optional[PairSource], *, vote_token: Optional[str],
                  judge: str = "human", method: str = "bt", interval: str = "sandwich", level: float = 0.95):
    """The ``/arena`` routes over ``store`` (a :class:`preflab.arena.store.Store`) and ``pairs`` (None: no
    ballots are handed out, the leaderboard is still shown). ``vote_token`` None refuses every vote (403)."""
    from preflab.arena.store import Battle

    router = APIRouter(prefix="/arena")
    ballots = Ballots()

    @router.get("", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return VOTING_PAGE

    @router.get("/pair")
    def pair() -> dict:
        if pairs is None:
            raise APIError(404, "this server has no battle candidates; restart it with --pairs FILE.jsonl",
                           code="no_pairs")
        drawn = pairs.draw()
        shown_a, shown_b = drawn.shown()
        return {"id": ballots.issue(drawn), "prompt": drawn.prompt, "responses": {"A": shown_a, "B": shown_b}}

    @router.post("/vote")
    async def vote(request: Request) -> dict:
        body = _parse_vote(await request.body())
        token = bearer(request.headers.get("authorization")) or body.get("token")
        if vote_token is None:
            raise APIError(403, "voting is closed: this server was started without a voting token; restart it "
                                "with --vote-token TOKEN", type="authentication_error", code="voting_closed")
        error = check_token(token if isinstance(token, str) else None, vote_token, what="voting token")
        if error is not None:
            raise error
        ballot, choice = _check_fields(body)
        drawn = ballots.claim(ballot)
        battle = Battle(model_a=drawn.model_a, model_b=drawn.model_b, winner=drawn.winner_of(choice),
                        prompt=drawn.prompt, response_a=drawn.response_a, response_b=drawn.response_b, judge=judge,
                        shown_a_first=drawn.shown_a_first, id=ballot).validate()
        try:
            added = await run_in_threadpool(store.add, battle)    # SQLite may wait on other writers
        except BaseException:
            ballots.reopen(ballot, drawn)
            raise
        ballots.done(ballot)
        if not added:
            raise APIError(409, f"ballot {ballot!r} is already in the store; nothing was written", param="id",
                           code="already_voted")
        shown = ({"A": drawn.model_a, "B": drawn.model_b} if drawn.shown_a_first
                 else {"A": drawn.model_b, "B": drawn.model_a})
        named = {"model_a": drawn.model_a, "model_b": drawn.model_b}
        return {"id": ballot, "vote": choice, "winner": named.get(battle.winner, battle.winner),
                "stored_winner": battle.winner, "shown": shown}

    boards: dict = {}       # the latest fits: every open page polls the board, votes are rarer

    @router.get("/leaderboard")
    def board(method: str = method, interval: str = interval, level: float = level) -> dict:
        from preflab.arena.ratings import INTERVALS, METHODS

        if method not in METHODS:
            raise APIError(400, f"method {method!r} is not one of {', '.join(METHODS)}", param="method")
        if interval not in INTERVALS:
            raise APIError(400, f"interval {interval!r} is not one of {', '.join(INTERVALS)}", param="interval")
        if not 0 < level < 1:
            raise APIError(400, f"level {level} must lie strictly between 0 and 1 (e.g. 0.95)", param="level")
        key = (store.count(), method, interval, level)   # any new battle changes the count: fit again then
        if key not in boards:
            try:
                board = leaderboard(store, judge=judge, method=method, interval=interval, level=level)
            except ValueError as err:      # e.g. elo with sandwich intervals
                raise APIError(400, str(err), param="interval") from err
            if any(k[0] != key[0] for k in boards):
                boards.clear()
            boards[key] = board
        return boards[key]

    return router
