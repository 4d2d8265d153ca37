"""An LLM judge behind any OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp, TGI, OpenAI, ...).

The judge is shown the prompt and two answers labelled A and B and asked which is better. Its reply is
parsed robustly (:func:`~preflab.oracles.verdict.parse_verdict`: "A", "**B**", "[[A]]", "verdict: B",
"tie", ...); when the server returns token logprobs, P(A) comes from the logprobs of the verdict token
instead of a hard 0/1. With ``both_orders=True`` (default) each pair is judged as (a, b) and as (b, a) and
``P(a > b) = (p(a, b) + 1 - p(b, a)) / 2``, which cancels a constant position bias;
``position_bias()`` reports it.

Requests run ``concurrency`` at a time; each is retried on timeouts, connection errors, 429 and 5xx, with
exponential backoff (``backoff * 2**k`` seconds, at most ``backoff_max``), ``max_retries`` times. A request
that still fails (or a 4xx client error) stops the call with an :class:`~preflab.oracles.OracleError` that
names the item and the number of tries, and carries in ``completed`` the probabilities of the items that
were done (a :class:`~preflab.oracles.LabelLog` saves them).

Needs the ``openai`` client: ``pip install 'preflab[judge]'``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from concurrent.futures import CancelledError, ThreadPoolExecutor, as_completed
from typing import Optional, Sequence

import numpy as np

from .base import Oracle
from .errors import OracleError
from .position_bias import OrderRecord, PositionBias, combine_orders
from .retry import Cancelled, RetryError, retry_call
from .validation import check_pairs
from .verdict import parse_verdict, verdict_probability

__all__ = ["LLMJudge", "DEFAULT_TEMPLATE", "DEFAULT_SYSTEM"]

DEFAULT_SYSTEM = ("You are an impartial judge of the quality of answers to a user's question. Judge helpfulness, "
                  "correctness, relevance and clarity. Do not let the order of the answers or their length "
                  "influence you.")

DEFAULT_TEMPLATE = """[Question]
{prompt}

[Answer A]
{answer_a}

[Answer B]
{answer_b}

Which answer is better? Reply with a single letter: A or B (or "tie" only if they are truly equal)."""

_FIELDS = re.compile(r"\{(prompt|answer_a|answer_b)\}")


def render(template: str, prompt: str, answer_a: str, answer_b: str) -> str:
    """The template with ``{prompt}``, ``{answer_a}``, ``{answer_b}`` filled in, in one pass (braces inside the
    texts or elsewhere in the template are left alone)."""
    values = {"prompt": prompt, "answer_a": answer_a, "answer_b": answer_b}
    return _FIELDS.sub(lambda m: values[m.group(1)], template)


def _is_retryable(exc: BaseException) -> bool:
    try:
        import openai
    except ImportError:
        return isinstance(exc, (_EmptyReply, TimeoutError, ConnectionError))

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError,
                        openai.InternalServerError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in (408, 409, 429)
    if isinstance(exc, openai.APIError):       # e.g. a reply that is not valid JSON
        return True
    return isinstance(exc, (_EmptyReply, TimeoutError, ConnectionError))


class _EmptyReply(RuntimeError):
    """The server answered without a choice."""


class _Failed(Exception):
    def __init__(self, item: int, order: int, err: RetryError):
        self.item, self.order, self.err = item, order, err


class LLMJudge(Oracle):
    """Pairwise judge over an OpenAI-compatible chat endpoint.

    Arguments:
        model: the model name the server expects.
        base_url: the server's API root, e.g. ``http://localhost:8000/v1``.
        api_key: sent as a bearer token (local servers ignore it).
        template: the user message, with ``{prompt}``, ``{answer_a}`` and ``{answer_b}``.
        system: the system message (None: none).
        both_orders: judge each pair both ways and combine (twice the requests, no constant position bias).
        timeout: seconds per request; max_retries: retries after the first try; backoff, backoff_max: seconds.
        concurrency: requests in flight at once.
        temperature, max_tokens: sampling settings of the judge (greedy, a short reply by default).
        logprobs: ask for token logprobs (``top_logprobs`` alternatives) to turn the verdict into a probability;
            set False for servers that reject the parameter.
        on_unparsed: "tie" (count it in ``stats["unparsed"]`` and return 1/2) or "raise" (OracleError).
        name: the key of this judge's labels in a LabelLog; by default the model and a hash of the settings
            that change verdicts (template, system, both_orders, temperature, max_tokens, logprobs).
        client: an ``openai.OpenAI`` client to use instead of one built from base_url/api_key/timeout.
    """

    def __init__(self, model: str, base_url: Optional[str] = None, api_key: str = "EMPTY",
                 template: str = DEFAULT_TEMPLATE, *, system: Optional[str] = DEFAULT_SYSTEM, both_orders: bool = True,
                 timeout: float = 60.0, max_retries: int = 3, backoff: float = 1.0, backoff_max: float = 30.0,
                 concurrency: int = 4, temperature: float = 0.0, max_tokens: int = 16, logprobs: bool = True,
                 top_logprobs: int = 5, on_unparsed: str = "tie", name: Optional[str] = None, client=None):
        missing = [f for f in ("{prompt}", "{answer_a}", "{answer_b}") if f not in template]
        if missing:
            raise ValueError(f"LLMJudge: template lacks {', '.join(missing)}; it must contain {{prompt}}, "
                             "{answer_a} and {answer_b}")
        if base_url is None and client is None:
            raise ValueError("LLMJudge needs base_url (e.g. 'http://localhost:8000/v1') or client=openai.OpenAI(...)")
        if on_unparsed not in ("tie", "raise"):
            raise ValueError(f"LLMJudge: on_unparsed must be 'tie' or 'raise', got {on_unparsed!r}")
        if concurrency < 1 or max_retries < 0:
            raise ValueError(f"LLMJudge: concurrency must be >= 1 and max_retries >= 0, got {concurrency}, {max_retries}")
        self.model, self.base_url, self.api_key = model, base_url, api_key
        self.template, self.system, self.both_orders = template, system, both_orders
        self.timeout, self.max_retries, self.backoff, self.backoff_max = timeout, max_retries, backoff, backoff_max
        self.concurrency, self.temperature, self.max_tokens = concurrency, temperature, max_tokens
        self.logprobs, self.top_logprobs, self.on_unparsed = logprobs, top_logprobs, on_unparsed
        settings = repr((template, system, both_orders, temperature, max_tokens, logprobs)).encode()
        self.name = name or f"llm_judge:{model}:{hashlib.sha256(settings).hexdigest()[:8]}"
        self._client = client
        self._client_lock = threading.Lock()
        self._orders = OrderRecord()
        self._stats_lock = threading.Lock()
        self.stats = {"requests": 0, "retries": 0, "unparsed": 0, "from_logprobs": 0}

    # -- one request -----------------------------------------------------------------------------------
    @property
    def client(self):
        with self._client_lock:
            if self._client is None:
                try:
                    import openai
                except ImportError as e:
                    raise OracleError("LLMJudge needs the openai client: pip install 'preflab[judge]' "
                                      "(or pip install 'openai>=1.40')") from e
                self._client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key, timeout=self.timeout,
                                             max_retries=0)
            return self._client

    def messages(self, prompt: str, answer_a: str, answer_b: str) -> list[dict]:
        """The chat messages sent for one judgment."""
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        msgs.append({"role": "user", "content": render(self.template, prompt, answer_a, answer_b)})
        return msgs

    def _count(self, key: str, k: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += k

    def judge_once(self, prompt: str, answer_a: str, answer_b: str) -> float:
        """One request, no retries: P(answer A is better) from the reply (and its logprobs when present)."""
        kwargs = {}
        if self.logprobs:
            kwargs = {"logprobs": True, "top_logprobs": self.top_logprobs}
        self._count("requests")
        resp = self.client.chat.completions.create(
            model=self.model, messages=self.messages(prompt, answer_a, answer_b), temperature=self.temperature,
            max_tokens=self.max_tokens, **kwargs)
        if not getattr(resp, "choices", None):
            raise _EmptyReply(f"the server returned no choices: {resp!r:.200}")
        choice = resp.choices[0]
        text = (choice.message.content if choice.message is not None else None) or ""
        verdict = parse_verdict(text)
        content = getattr(getattr(choice, "logprobs", None), "content", None)
        p = verdict_probability(text, content, verdict) if self.logprobs else None
        if p is not None:
            self._count("from_logprobs")
            return p
        p = verdict.probability()
        if p is None:
            self._count("unparsed")
            if self.on_unparsed == "raise":
                raise _Unparsed(f"no verdict in the judge's reply {text[:200]!r}")
            return 0.5
        return p

    # -- the contract ----------------------------------------------------------------------------------
    def compare(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]) -> np.ndarray:
        n = check_pairs(f"LLMJudge '{self.name}'.compare", prompts, first, second)
        orders = 2 if self.both_orders else 1
        results = np.full((n, orders), np.nan)
        stop = threading.Event()
        failures: list[_Failed] = []

        def run(i: int, order: int) -> float:
            a, b = (first[i], second[i]) if order == 0 else (second[i], first[i])

            def sleep(seconds: float) -> None:
                self._count("retries")
                stop.wait(seconds)

            try:
                return retry_call(lambda: self.judge_once(prompts[i], a, b), max_retries=self.max_retries,
                                  backoff=self.backoff, backoff_max=self.backoff_max, retry_on=_is_retryable,
                                  sleep=sleep, stop=stop)
            except RetryError as e:
                stop.set()              # before this worker takes the next job: nothing new starts
                raise _Failed(i, order, e) from e

        if n:
            self.client  # build it (or fail: openai missing) here, not in every worker
            with ThreadPoolExecutor(max_workers=min(self.concurrency, n * orders)) as pool:
                futures = {pool.submit(run, i, o): (i, o) for i in range(n) for o in range(orders)}
                for fut in as_completed(futures):
                    i, o = futures[fut]
                    try:
                        results[i, o] = fut.result()
                    except _Failed as f:
                        failures.append(f)
                        stop.set()
                        for other in futures:
                            other.cancel()
                    except (Cancelled, CancelledError):
                        pass
        done = ~np.isnan(results).any(axis=1)
        if self.both_orders:
            self._orders.add(results[done, 0], results[done, 1])
            combined = combine_orders(results[:, 0], results[:, 1])
        else:
            combined = results[:, 0]
        if failures:
            raise self._error(failures, prompts, combined, int(done.sum()), n)
        return combined

    def _error(self, failures: list[_Failed], prompts, completed: np.ndarray, n_done: int, n: int) -> OracleError:
        f = min(failures, key=lambda f: (f.item, f.order))
        err, last = f.err, f.err.last
        order = "" if not self.both_orders else (" shown as (first, second)" if f.order == 0 else
                                                 " shown as (second, first)")
        if isinstance(last, _Unparsed):
            fix = "change the template or max_tokens so that the judge answers A or B, or pass on_unparsed='tie'"
        elif not err.retryable:
            fix = (f"the server rejected the request (not retried): check model={self.model!r}, api_key and "
                   "base_url; if it rejects logprobs, pass logprobs=False")
        else:
            fix = f"check the server at {self.base_url}, or raise max_retries (now {self.max_retries}) or timeout " \
                  f"(now {self.timeout} s)"
        others = f" ({len(failures) - 1} other request(s) failed too)" if len(failures) > 1 else ""
        prompt = prompts[f.item]
        return OracleError(
            f"LLMJudge '{self.name}': item {f.item} (prompt {prompt[:60]!r}{'...' if len(prompt) > 60 else ''}"
            f"{order}) failed after {err.tries} tr{'y' if err.tries == 1 else 'ies'}: {type(last).__name__}: "
            f"{str(last)[:300]}{others}; {n_done} of {n} items were judged before the stop. Fix: {fix}",
            item=f.item, tries=err.tries, completed=completed)

    def position_bias(self) -> PositionBias:
        """Position bias over every pair this judge has judged in both orders (since ``reset_position_bias``)."""
        if not self.both_orders:
            raise ValueError(f"LLMJudge '{self.name}' judges one order only (both_orders=False), so position bias "
                             "cannot be measured; construct it with both_orders=True")
        return self._orders.report()

    def reset_position_bias(self) -> None:
        self._orders.reset()

    def __repr__(self) -> str:
        return f"LLMJudge(model={self.model!r}, base_url={self.base_url!r}, name={self.name!r})"


class _Unparsed(RuntimeError):
    """The judge's reply named no answer (with on_unparsed='raise'); not retried."""
