"""OpenAI-compatible routes for a local model: ``POST /v1/chat/completions``, ``POST /v1/completions`` (both
also as Server-Sent Events with ``stream: true``, ending with ``data: [DONE]``) and ``GET /v1/models``.

The replies have OpenAI's shapes (``chat.completion``, ``chat.completion.chunk``, ``text_completion``), with
``usage`` counts, ``finish_reason`` (``stop`` or ``length``) and, when asked, token logprobs (chat:
``logprobs``/``top_logprobs``; completions: the legacy ``logprobs: k`` object), so the ``openai`` client, and
:class:`preflab.oracles.LLMJudge` through it, can use a local model as a judge. Requests without a ``seed``
draw one from the server's own generator (seeded at start), so a server's run can be replayed.

>>> from fastapi import FastAPI
>>> from fastapi.testclient import TestClient
>>> from preflab.models import tiny_llama
>>> from preflab.tasks.vocab import word_tokenizer
>>> from preflab.serve.local_model import LocalModel
>>> tok = word_tokenizer(["hello", "there"], ["yes", "no"])
>>> app = FastAPI()
>>> app.include_router(openai_router(LocalModel(tiny_llama(vocab_size=len(tok), seed=0), tok, name="tiny")))
>>> reply = TestClient(app).post("/v1/completions", json={"model": "tiny", "prompt": "hello", "max_tokens": 2,
...                                                       "temperature": 0}).json()
>>> reply["choices"][0]["text"], reply["usage"]
('hello hello', {'prompt_tokens': 2, 'completion_tokens': 2, 'total_tokens': 4})
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from typing import Iterator, List, Optional

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from .auth import bearer, check_token
from .errors import APIError
from .local_model import Choice, LocalModel, SamplingParams
from .openai_schemas import ChatRequest, CompletionRequest

__all__ = ["openai_router", "CHAT_DEFAULT_MAX_TOKENS", "COMPLETION_DEFAULT_MAX_TOKENS"]

CHAT_DEFAULT_MAX_TOKENS = 512       # chat replies stop here unless max_tokens says otherwise (and the context allows)
COMPLETION_DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions


class _Seeds:
    """A seed for each request that brings none, from one generator seeded when the server starts."""

    def __init__(self, seed: int):
        self._rng, self._lock = random.Random(seed), threading.Lock()

    def __call__(self, requested: Optional[int]) -> int:
        if requested is not None:
            return requested
        with self._lock:
            return self._rng.randrange(2 ** 31)


def _sse(payload) -> str:
    return f"data: {json.dumps(payload) if not isinstance(payload, str) else payload}\n\n"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _chat_logprobs(choice: Choice) -> Optional[dict]:
    if choice.logprobs is None:
        return None
    return {"content": [
        {"token": t.token, "logprob": t.logprob, "bytes": list(t.token.encode("utf-8")),
         "top_logprobs": [{"token": s, "logprob": lp, "bytes": list(s.encode("utf-8"))} for s, _, lp in t.top]}
        for t in choice.logprobs]}


def _legacy_logprobs(choice: Choice) -> Optional[dict]:
    if choice.logprobs is None:
        return None
    offsets, at = [], 0
    for t in choice.logprobs:
        offsets.append(at)
        at += len(t.token)
    return {"tokens": [t.token for t in choice.logprobs], "token_logprobs": [t.logprob for t in choice.logprobs],
            "top_logprobs": [{s: lp for s, _, lp in t.top} for t in choice.logprobs], "text_offset": offsets}


def openai_router(lm: Optional[LocalModel], *, api_key: Optional[str] = None, seed: int = 0):
    """An ``APIRouter`` with the ``/v1`` routes for ``lm`` (None: the routes answer 503, no model loaded);
    ``api_key``: every ``/v1`` request must send ``Authorization: Bearer <api_key>`` (401 otherwise)."""
    seeds = _Seeds(seed)

    def authorized(request: Request) -> None:
        if api_key is not None:
            error = check_token(bearer(request.headers.get("authorization")), api_key, what="API key",
                                wrong_status=401)
            if error is not None:
                raise error

    router = APIRouter(prefix="/v1", dependencies=[Depends(authorized)])

    def model_for(name: str) -> LocalModel:
        if lm is None:
            raise APIError(503, "this server was started without a model (--model none); restart it with "
                                "--model smollm2 or a checkpoint folder", type="server_error")
        if name != lm.name:
            raise APIError(404, f"the model {name!r} does not exist here; this server serves {lm.name!r} "
                                "(GET /v1/models lists it)", param="model", code="model_not_found")
        return lm

    def params_of(body, max_tokens: int, logprobs: bool, top: int) -> SamplingParams:
        return SamplingParams(max_tokens=max_tokens, temperature=body.temperature, top_p=body.top_p, n=body.n,
                              seed=seeds(body.seed), stop=body.stop_strings(), logprobs=logprobs, top_logprobs=top)

    def stream_response(chunks: Iterator[str]) -> StreamingResponse:
        return StreamingResponse(chunks, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @router.get("/models")
    def models() -> dict:
        data = [] if lm is None else [{"id": lm.name, "object": "model", "created": 0, "owned_by": "preflab",
                                       "max_model_len": lm.context_length}]
        return {"object": "list", "data": data}

    @router.post("/chat/completions")
    def chat_completions(body: ChatRequest):
        model = model_for(body.model)
        messages = [m.for_template() for m in body.messages]
        try:
            prompt_ids = model.encode_chat(messages)
        except ValueError as err:
            raise APIError(400, str(err), param="messages") from err
        limit = body.token_limit(max(1, min(CHAT_DEFAULT_MAX_TOKENS, model.context_length - len(prompt_ids))))
        params = params_of(body, limit, body.logprobs, body.top_logprobs or 0)
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        head = {"id": rid, "created": created, "model": model.name}
        if body.stream:
            if body.logprobs:
                raise APIError(400, "logprobs with stream=true is not supported by preflab serve; send stream=false "
                                    "to get logprobs", param="logprobs")
            stream = _start_stream(model, prompt_ids, params)

            def chunks() -> Iterator[str]:
                chunk = dict(head, object="chat.completion.chunk")

                def choice(delta: dict, finish=None) -> dict:
                    return dict(chunk, choices=[{"index": 0, "delta": delta, "logprobs": None,
                                                 "finish_reason": finish}])
                try:
                    yield _sse(choice({"role": "assistant", "content": ""}))
                    for delta in stream:
                        yield _sse(choice({"content": delta}))
                    yield _sse(choice({}, stream.finish_reason))
                    if body.include_usage():
                        yield _sse(dict(chunk, choices=[], usage=_usage(len(prompt_ids), len(stream.token_ids))))
                    yield _sse("[DONE]")
                finally:
                    stream.close()
            return stream_response(chunks())
        choices = _generate(model, prompt_ids, params)
        return dict(head, object="chat.completion", choices=[
            {"index": i, "message": {"role": "assistant", "content": c.text}, "logprobs": _chat_logprobs(c),
             "finish_reason": c.finish_reason} for i, c in enumerate(choices)],
            usage=_usage(len(prompt_ids), sum(len(c.token_ids) for c in choices)))

    @router.post("/completions")
    def completions(body: CompletionRequest):
        model = model_for(body.model)
        prompts = [model.encode_prompt(p) for p in body.prompts()]
        params = params_of(body, body.max_tokens or COMPLETION_DEFAULT_MAX_TOKENS, body.logprobs is not None,
                           body.logprobs or 0)
        rid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
        head = {"id": rid, "object": "text_completion", "created": created, "model": model.name}
        if body.stream:
            if len(prompts) != 1 or body.logprobs is not None:
                raise APIError(400, "stream=true takes one prompt and no logprobs here; send a single string prompt "
                                    "without logprobs, or stream=false", param="stream")
            stream = _start_stream(model, prompts[0], params)

            def chunks() -> Iterator[str]:
                def choice(text: str, finish=None) -> dict:
                    return dict(head, choices=[{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}])
                try:
                    for delta in stream:
                        yield _sse(choice(delta))
                    yield _sse(choice("", stream.finish_reason))
                    if body.include_usage():
                        yield _sse(dict(head, choices=[], usage=_usage(len(prompts[0]), len(stream.token_ids))))
                    yield _sse("[DONE]")
                finally:
                    stream.close()
            return stream_response(chunks())
        out: List[dict] = []
        completion_tokens = 0
        for ids in prompts:
            for c in _generate(model, ids, params):
                out.append({"index": len(out), "text": c.text, "logprobs": _legacy_logprobs(c),
                            "finish_reason": c.finish_reason})
                completion_tokens += len(c.token_ids)
        return dict(head, choices=out, usage=_usage(sum(len(ids) for ids in prompts), completion_tokens))

    return router


def _generate(model: LocalModel, prompt_ids, params: SamplingParams) -> List[Choice]:
    try:
        return model.generate(prompt_ids, params)
    except ValueError as err:     # prompt too long for the context, ...
        raise APIError(400, str(err), param="max_tokens") from err


def _start_stream(model: LocalModel, prompt_ids, params: SamplingParams):
    try:
        return model.stream(prompt_ids, params)
    except ValueError as err:
        raise APIError(400, str(err), param="n" if params.n != 1 else "max_tokens") from err
