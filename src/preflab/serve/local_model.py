"""A local causal LM behind a lock: chat or raw prompts in, OpenAI-style choices (text, finish reason, logprobs) out.

One request runs at a time (``LocalModel`` holds a lock while it generates), on whatever device the model
sits on, with Hugging Face ``generate``. Temperature 0 is greedy decoding; otherwise tokens are sampled with
``temperature`` and ``top_p`` from a generator seeded by the request's ``seed``. ``stop`` strings end a
choice and are not part of its text, as in OpenAI's API. Streaming yields text deltas whose concatenation is
exactly the non-streamed text (each delta is the difference between decodes of the whole completion so far,
so a character split over two tokens is never emitted half-formed).

>>> from preflab.models import tiny_llama
>>> from preflab.tasks.vocab import word_tokenizer
>>> tok = word_tokenizer(["hello", "there"], ["yes", "no"])
>>> lm = LocalModel(tiny_llama(vocab_size=len(tok), seed=0), tok, name="tiny")
>>> [c] = lm.generate(lm.encode_prompt("hello there"), SamplingParams(max_tokens=3, temperature=0.0))
>>> c.text, c.finish_reason, len(c.token_ids)
('there there there', 'length', 3)
>>> "".join(lm.stream(lm.encode_prompt("hello there"), SamplingParams(max_tokens=3, temperature=0.0))) == c.text
True
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence, Tuple

import torch

__all__ = ["LocalModel", "SamplingParams", "Choice", "TokenLogprob", "load_local_model"]


@dataclass(frozen=True)
class SamplingParams:
    """What a request asks of the generator (OpenAI's names; ``logprobs`` a bool, ``top_logprobs`` a count)."""

    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    n: int = 1
    seed: Optional[int] = None
    stop: Tuple[str, ...] = ()
    logprobs: bool = False
    top_logprobs: int = 0


@dataclass
class TokenLogprob:
    """One generated token: its text, id, log-probability under the model, and the ``top`` alternatives."""

    token: str
    token_id: int
    logprob: float
    top: List[Tuple[str, int, float]] = field(default_factory=list)


@dataclass
class Choice:
    """One completion: ``text`` (stop string and EOS excluded), ``token_ids`` (EOS excluded),
    ``finish_reason`` (``"stop"``: EOS or a stop string; ``"length"``: max_tokens reached), logprobs if asked."""

    text: str
    token_ids: List[int]
    finish_reason: str
    logprobs: Optional[List[TokenLogprob]] = None


def load_local_model(name: str, *, seed: int = 0, device: Optional[str] = None, dtype: str = "float32"):
    """(model, tokenizer, name) for ``"smollm2"``, a checkpoint folder / ``.gguf`` / Hub id, or ``"tiny"``:
    a seeded 2-layer Llama over SmolLM2's tokenizer and chat template (random weights, for tests and demos).
    ``device`` (None: the CPU) and ``dtype`` go to :func:`preflab.models.load_model`."""
    from preflab.models import load_model, load_tokenizer, tiny_llama

    if name == "tiny":
        tokenizer = load_tokenizer("smollm2")
        return tiny_llama(vocab_size=len(tokenizer), seed=seed, device=device, dtype=dtype).eval(), tokenizer, "tiny"
    model = load_model(name, device=device, dtype=dtype).eval()
    return model, load_tokenizer(name), name


class _StopCriteria:
    """Ends generation for rows whose completion contains a stop string, or for all rows when ``abort`` is set."""

    def __init__(self, decode, prompt_len: int, stop: Sequence[str], abort: threading.Event):
        self.decode, self.prompt_len, self.stop, self.abort = decode, prompt_len, stop, abort

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if self.abort.is_set():
            return done | True
        if self.stop:
            for i, row in enumerate(input_ids[:, self.prompt_len:].tolist()):
                text = self.decode(row)
                done[i] = any(s in text for s in self.stop)
        return done


class _TokenQueue:
    """A ``generate`` streamer: every new token id goes into a queue; ``None`` marks the end."""

    def __init__(self):
        self.queue: "queue.Queue[Optional[int]]" = queue.Queue()
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:        # generate first passes the prompt
            self._prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.queue.put(int(token))

    def end(self) -> None:
        self.queue.put(None)


def _cut_at_stop(text: str, stop: Sequence[str]) -> Tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one was found."""
    hits = [i for i in (text.find(s) for s in stop) if i >= 0]
    return (text[:min(hits)], True) if hits else (text, False)


class LocalModel:
    """A causal LM and its tokenizer, served one request at a time.

    ``name`` is the model id clients send; ``context_length`` the most tokens (prompt + completion) allowed.
    """

    def __init__(self, model, tokenizer, *, name: str, context_length: Optional[int] = None):
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        config = model.config
        self.context_length = int(context_length or getattr(config, "max_position_embeddings", None) or 2048)
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.eos_ids[0] if self.eos_ids else 0)
        self.lock = threading.Lock()               # one generation at a time
        self._tokenizer_lock = threading.RLock()   # a Rust tokenizer is not shared across threads at once

    # -- prompts ----------------------------------------------------------------------------------------
    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def encode_chat(self, messages: Sequence[dict]) -> List[int]:
        """Token ids of ``messages`` (``role``, ``content`` strings) under the tokenizer's chat template, with the
        assistant's turn opened."""
        if not self.has_chat_template:
            raise ValueError(f"model {self.name!r} has no chat template (its tokenizer defines none); send raw "
                             "text to /v1/completions instead")
        with self._tokenizer_lock:
            text = self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
            return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode_prompt(self, prompt: str) -> List[int]:
        """Token ids of a raw prompt, with the tokenizer's usual special tokens."""
        with self._tokenizer_lock:
            return self.tokenizer(prompt)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        """The text of token ids, special tokens left out."""
        with self._tokenizer_lock:
            return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def check_length(self, prompt_ids: Sequence[int], max_tokens: int) -> None:
        if len(prompt_ids) + max_tokens > self.context_length:
            raise ValueError(f"the prompt has {len(prompt_ids)} tokens and max_tokens is {max_tokens}, together more "
                             f"than the model's context length {self.context_length}; shorten the prompt or lower "
                             "max_tokens")

    # -- generation -------------------------------------------------------------------------------------
    def _generate_kwargs(self, prompt_ids: Sequence[int], params: SamplingParams, rows: int, abort: threading.Event,
                         *, scores: bool = False):
        from transformers import GenerationConfig, StoppingCriteriaList

        sample = params.temperature > 0
        config = GenerationConfig(
            max_new_tokens=params.max_tokens, do_sample=sample, num_return_sequences=rows,
            eos_token_id=self.eos_ids or None, pad_token_id=self.pad_id,
            return_dict_in_generate=scores, output_logits=scores and params.logprobs,
            **(dict(temperature=params.temperature, top_p=params.top_p, top_k=0) if sample else {}))
        ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=self.model.device)
        stopping = StoppingCriteriaList([_StopCriteria(self.decode, ids.shape[1], params.stop, abort)])
        return dict(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config,
                    stopping_criteria=stopping)

    def _seed(self, params: SamplingParams):
        from preflab.models.seeding import seeded

        return seeded(params.seed if params.seed is not None else 0)

    @torch.no_grad()
    def generate(self, prompt_ids: Sequence[int], params: SamplingParams) -> List[Choice]:
        """``params.n`` choices for one prompt (greedy choices are one decode, repeated)."""
        self.check_length(prompt_ids, params.max_tokens)
        rows = params.n if params.temperature > 0 else 1
        kwargs = self._generate_kwargs(prompt_ids, params, rows, threading.Event(), scores=True)
        with self.lock, self._seed(params):
            out = self.model.generate(**kwargs)
        width = kwargs["input_ids"].shape[1]
        choices = []
        for r in range(rows):
            new = out.sequences[r, width:].tolist()
            choices.append(self._choice(new, [step[r] for step in out.logits] if params.logprobs else None, params))
        return choices * (params.n // rows)

    def _choice(self, new: List[int], logits: Optional[List[torch.Tensor]], params: SamplingParams) -> Choice:
        finish = "length"
        end = len(new)
        for i, token in enumerate(new):
            if token in self.eos_ids:
                end, finish = i, "stop"
                break
        ids = new[:end]
        text, stopped = _cut_at_stop(self.decode(ids), params.stop)
        if stopped:
            finish = "stop"
            ids = self._tokens_covering(ids, len(text))
        logprobs = None
        if logits is not None:
            logprobs = [self._token_logprob(token, logits[i], params.top_logprobs) for i, token in enumerate(ids)]
        return Choice(text=text, token_ids=ids, finish_reason=finish, logprobs=logprobs)

    def _tokens_covering(self, ids: List[int], n_chars: int) -> List[int]:
        """The shortest prefix of ``ids`` whose text holds the first ``n_chars`` characters."""
        for k in range(len(ids) + 1):
            if len(self.decode(ids[:k])) >= n_chars:
                return ids[:k]
        return ids

    def _token_logprob(self, token: int, logits: torch.Tensor, top: int) -> TokenLogprob:
        logp = torch.log_softmax(logits.float(), dim=-1)
        alternatives = []
        if top > 0:
            values, indices = logp.topk(min(top, logp.shape[-1]))
            alternatives = [(self._token_text(i), i, v) for v, i in zip(values.tolist(), indices.tolist())]
        return TokenLogprob(self._token_text(token), token, float(logp[token]), alternatives)

    def _token_text(self, token: int) -> str:
        with self._tokenizer_lock:
            return self.tokenizer.decode([token])

    def stream(self, prompt_ids: Sequence[int], params: SamplingParams) -> "Stream":
        """An iterator of text deltas for one choice (``params.n`` must be 1); ``finish_reason`` and
        ``token_ids`` are set on it once exhausted. Closing it early stops the generation."""
        if params.n != 1:
            raise ValueError(f"streaming returns one choice; got n={params.n}: send n=1, or stream=false for n > 1")
        self.check_length(prompt_ids, params.max_tokens)
        return Stream(self, prompt_ids, params)


class Stream:
    """Text deltas of one streamed choice; a worker thread runs ``generate`` while holding the model's lock."""

    def __init__(self, lm: LocalModel, prompt_ids: Sequence[int], params: SamplingParams):
        self.lm, self.params = lm, params
        self.abort = threading.Event()
        self.tokens = _TokenQueue()
        self.finish_reason: Optional[str] = None
        self.token_ids: List[int] = []
        self.error: Optional[BaseException] = None
        kwargs = lm._generate_kwargs(prompt_ids, params, 1, self.abort)
        self._thread = threading.Thread(target=self._work, args=(kwargs,), daemon=True, name="preflab-generate")
        self._started = False
        self._iter = self._deltas()

    def _work(self, kwargs) -> None:
        try:
            with torch.no_grad(), self.lm.lock, self.lm._seed(self.params):
                self.lm.model.generate(**kwargs, streamer=self.tokens)
        except BaseException as err:  # surfaced to the reader, never lost in the thread
            self.error = err
            self.tokens.end()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._iter)

    def _deltas(self) -> Iterator[str]:
        self._thread.start()
        decode = self.lm.decode
        ids: List[int] = []
        sent = 0
        hold = max((len(s) for s in self.params.stop), default=1) - 1
        try:
            while True:
                token = self.tokens.queue.get()
                if token is None:
                    break
                if token in self.lm.eos_ids:
                    self.finish_reason = "stop"
                    break
                ids.append(token)
                text, stopped = _cut_at_stop(decode(ids), self.params.stop)
                if stopped:
                    self.finish_reason = "stop"
                    self.abort.set()
                    if len(text) > sent:
                        yield text[sent:]
                    sent = len(text)
                    break
                safe = len(text) - hold             # text that may still begin a stop string is held back
                while safe > sent and text[safe - 1] == "\ufffd":   # half a character: wait for the rest
                    safe -= 1
                if safe > sent:
                    yield text[sent:safe]
                    sent = safe
            if self.error is not None:
                raise self.error
            if self.finish_reason is None:
                self.finish_reason = "length"
            text, _ = _cut_at_stop(decode(ids), self.params.stop)
            if len(text) > sent:                        # what was held back
                yield text[sent:]
                sent = len(text)
            self.token_ids = self.lm._tokens_covering(ids, sent) if self.params.stop else ids
        finally:
            self.abort.set()
            self._thread.join()

    def close(self) -> None:
        """Stop generating (the worker finishes its current step and releases the model)."""
        self.abort.set()
        self._iter.close()
