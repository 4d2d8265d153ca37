"""The ``preflab serve`` application: the OpenAI-compatible ``/v1`` routes for a local model, and the arena's
human-voting page under ``/arena`` when a store is given.

>>> from fastapi.testclient import TestClient
>>> client = TestClient(create_app())
>>> client.get("/v1/models").json()
{'object': 'list', 'data': []}
>>> client.post("/v1/chat/completions", json={"model": "x", "messages": []}).json()["error"]["message"]
'invalid request: body.messages: List should have at least 1 item after validation, not 0'
"""

from __future__ import annotations

from typing import Optional

from .errors import install_error_handlers
from .local_model import LocalModel
from .openai_api import openai_router

__all__ = ["create_app"]


def create_app(model: Optional[LocalModel] = None, *, store=None, pairs=None, api_key: Optional[str] = None,
               vote_token: Optional[str] = None, seed: int = 0):
    """A FastAPI app.

    ``model``: the :class:`~preflab.serve.local_model.LocalModel` behind ``/v1`` (None: ``/v1`` answers 503).
    ``store``: a :class:`preflab.arena.store.Store` for votes; with ``pairs`` (a
    :class:`~preflab.serve.pairs.PairSource`) the voting page ``/arena`` is served. ``api_key``: required by
    ``/v1`` as a bearer token. ``vote_token``: required to vote (None: votes are refused). ``seed``: the generator of the seeds
    of requests that bring none (the pairs shown draw from ``pairs``' own seed).
    """
    from fastapi import FastAPI
    from fastapi.responses import RedirectResponse

    app = FastAPI(title="preflab serve", docs_url="/docs", redoc_url=None)
    install_error_handlers(app)
    app.include_router(openai_router(model, api_key=api_key, seed=seed))
    if store is not None:
        from .voting import voting_router

        app.include_router(voting_router(store, pairs, vote_token=vote_token))

        @app.get("/", include_in_schema=False)
        def root():
            return RedirectResponse("/arena")
    return app
