"""Oracles from one line of text, as the command line takes them (``--judge SPEC``).

| form | oracle |
|---|---|
| ``task:NAME`` | the exact ground truth of a built-in task (``task:heterogeneous``, ``task:sentiment``, ...) |
| ``length`` | the longer response wins (a tie when equal): a baseline judge with a known bias |
| ``llm:MODEL@URL`` | :class:`LLMJudge` over an OpenAI-compatible endpoint, graded arena-hard-style verdicts |
| ``reward-model:PATH`` | :class:`RewardModelOracle`, a Hugging Face sequence classifier |
| ``pairwise-model:PATH`` | a sequence classifier that reads the prompt and both responses (PairRM-style) |
| ``embedding[:REFS.jsonl]`` | MiniLM cosine similarity to each prompt's reference answer |
| ``python:MODULE:NAME`` | an Oracle, an Oracle class, a ``compare(prompt, a, b)`` or a ``score(prompt, response)`` |
| ``noisy(flip=F):SPEC`` | SPEC's labels flipped with probability F |

Options follow ``?`` as ``key=value`` pairs joined by ``&``: ``llm:`` takes ``key`` (else the environment
variable ``PREFLAB_JUDGE_API_KEY``), ``template`` (``graded``, the default, or ``letter``), ``max_tokens``,
``concurrency``, ``timeout``, ``max_retries``, ``logprobs``, ``temperature``; ``reward-model:`` and
``embedding`` take ``temperature``; ``python:`` takes ``temperature`` for a score function.
``one_order=True`` makes the oracles that judge both orders themselves (``llm``, ``pairwise-model``) judge
only the order shown, for callers that handle the orders themselves (``preflab judge``).

>>> oracle = oracle_from_spec("length")
>>> oracle.compare(["q", "q", "q"], ["long answer", "a", "same"], ["short", "longer", "four"]).tolist()
[1.0, 0.0, 0.5]
>>> noisy = oracle_from_spec("noisy(flip=0.25):length")
>>> noisy.name, noisy.compare(["q"], ["long answer"], ["short"]).tolist()
('noisy(length,flip=0.25)', [0.75])
>>> spec_label("llm:judge@http://127.0.0.1:8000/v1?key=sk-secret&max_tokens=512")   # safe to write down
'llm:judge@http://127.0.0.1:8000/v1?key=***&max_tokens=512'
>>> float(oracle_from_spec("task:heterogeneous").compare(["t0 :"], ["formal formal"], ["casual casual"])[0]) > 0.5
True
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
from pathlib import Path
from typing import Mapping, Optional
from urllib.parse import parse_qsl

from .base import Oracle
from .callable_oracle import CallableOracle

__all__ = ["oracle_from_spec", "spec_label", "FORMS", "API_KEY_ENV"]

API_KEY_ENV = "PREFLAB_JUDGE_API_KEY"

FORMS = {
    "task:NAME": "a built-in task's exact oracle, e.g. task:heterogeneous, task:sentiment, task:transitive",
    "length": "the longer response wins (a tie when equally long)",
    "llm:MODEL@URL[?key=...]": "an LLM judge over an OpenAI-compatible API, e.g. llm:qwen@http://127.0.0.1:8000/v1",
    "reward-model:PATH": "a Hugging Face sequence classifier (reward model) from a local folder",
    "pairwise-model:PATH": "a sequence classifier over the prompt and both responses (PairRM-style)",
    "embedding[:REFS.jsonl]": "MiniLM cosine similarity to each prompt's reference answer",
    "python:MODULE:NAME": "an Oracle, an Oracle class, compare(prompt, a, b) or score(prompt, response)",
    "noisy(flip=F):SPEC": "SPEC with each label flipped with probability F",
}

_NOISY = re.compile(r"^noisy\((?:flip=)?\s*([^)]*)\)\s*:(.+)$", re.DOTALL)
_LLM = re.compile(r"^(?P<model>[^@]+)@(?P<url>https?://.+)$")


_KEY = re.compile(r"([?&]key=)[^&]*")


def spec_label(text: str) -> str:
    """The spec as it may be written into output files and reports: an API key (``key=...``) reads ``***``."""
    return _KEY.sub(r"\1***", text.strip())


def _forms() -> str:
    return "; ".join(f"{form} ({what})" for form, what in FORMS.items())


def _error(spec: str, what: str) -> ValueError:
    return ValueError(f"judge spec {spec!r}: {what}. The forms are: {_forms()}")


def _split_options(spec: str, body: str) -> tuple[str, dict]:
    if "?" not in body:
        return body, {}
    body, query = body.rsplit("?", 1)
    options = {}
    for pair in query.split("&"):
        if not pair:
            continue
        if "=" not in pair:
            raise _error(spec, f"option {pair!r} has no value; write key=value pairs after '?', joined by '&'")
        (key, value), = parse_qsl(pair, keep_blank_values=True)
        options[key] = value
    return body, options


def _take(spec: str, options: dict, key: str, kind, default):
    if key not in options:
        return default
    raw = options.pop(key)
    if kind is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise _error(spec, f"option {key}={raw!r} must be true or false")
    try:
        return kind(raw)
    except ValueError:
        raise _error(spec, f"option {key}={raw!r} must be a {kind.__name__}") from None


def _no_more(spec: str, form: str, options: dict, allowed: str) -> None:
    if options:
        raise _error(spec, f"unknown option(s) {', '.join(sorted(options))} for '{form}'; it takes {allowed}")


def _longer(prompt: str, a: str, b: str) -> float:
    return 1.0 if len(a) > len(b) else 0.0 if len(a) < len(b) else 0.5


def _references(spec: str, path: str) -> dict:
    refs = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise _error(spec, f"cannot read the references file {path!r} ({e})") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            refs[row["prompt"]] = row["reference"]
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{lineno}: each line must be a JSON object with 'prompt' and 'reference' "
                             f"strings ({type(e).__name__}: {e})") from None
    return refs


def _pairwise_classifier(path: str, name: str, both_orders: bool) -> Oracle:
    """A sequence classifier that reads ``prompt [SEP] first [SEP] second``; one logit: P(first) = sigmoid(logit);
    two: softmax, label 1 = the first response preferred."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .errors import OracleError
    from .pairwise_model import PairwiseModelOracle

    try:
        model = AutoModelForSequenceClassification.from_pretrained(path).eval()
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise OracleError(f"pairwise-model:{path}: cannot load a sequence classifier ({e}); pass a local folder with "
                          "config.json, weights and tokenizer files") from e
    if model.config.num_labels not in (1, 2):
        raise OracleError(f"pairwise-model:{path}: the head has num_labels={model.config.num_labels}; a pairwise "
                          "model needs 1 (sigmoid of the logit) or 2 (softmax, label 1 = first preferred)")
    sep = f" {tokenizer.sep_token} " if tokenizer.sep_token else "\n\n"

    def fn(prompts, first, second):
        texts = [f"{x}{sep}{a}{sep}{b}" for x, a, b in zip(prompts, first, second)]
        out = []
        with torch.no_grad():
            for text in texts:       # one at a time: no padding to get wrong
                logits = model(**tokenizer(text, return_tensors="pt", truncation=True)).logits[0].double()
                out.append(float(torch.sigmoid(logits[0]) if logits.numel() == 1 else torch.softmax(logits, 0)[1]))
        return out

    return PairwiseModelOracle(fn, both_orders=both_orders, name=name + ("" if both_orders else ":one_order"))


def _python(spec: str, target: str, options: dict) -> Oracle:
    module_name, _, attr = target.rpartition(":")
    if not module_name or not attr:
        raise _error(spec, "python: takes MODULE:NAME, e.g. python:mypkg.judges:compare")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except ImportError as e:
        raise _error(spec, f"cannot import module {module_name!r} ({e}); is it on PYTHONPATH?") from None
    except AttributeError:
        raise _error(spec, f"module {module_name!r} has no attribute {attr!r}") from None
    temperature = _take(spec, options, "temperature", float, 1.0)
    _no_more(spec, "python", options, "temperature (for a score function)")
    name = f"python:{target}"
    if isinstance(obj, Oracle):
        return obj
    if inspect.isclass(obj) and issubclass(obj, Oracle):
        return obj()
    if not callable(obj):
        raise _error(spec, f"{target} is a {type(obj).__name__}, not an Oracle or a function")
    try:
        params = [p for p in inspect.signature(obj).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    except (TypeError, ValueError):
        params = []
    if len(params) == 3:
        return CallableOracle(compare_fn=obj, name=name)
    if len(params) == 2:
        return CallableOracle(score_fn=obj, name=name, temperature=temperature)
    raise _error(spec, f"{target} takes {len(params)} required argument(s); a judge function takes 3 "
                       "(prompt, a, b) -> P(a preferred) or 2 (prompt, response) -> reward")


def oracle_from_spec(text: str, *, references: Optional[Mapping[str, str]] = None, one_order: bool = False) -> Oracle:
    """The oracle that ``text`` names (the forms are in :data:`FORMS` and the module docstring).

    ``references`` (``{prompt: reference answer}``) feed ``embedding`` when no file is named; ``one_order``
    makes ``llm`` and ``pairwise-model`` judge only the order shown. An unknown form, a bad option or a
    missing file is a ValueError that lists the forms.
    """
    if not isinstance(text, str) or not text.strip():
        raise _error(str(text), "a judge spec must be a non-empty string")
    spec = text.strip()
    m = _NOISY.match(spec)
    if m:
        from .noisy import Noisy

        try:
            flip = float(m.group(1))
        except ValueError:
            raise _error(spec, f"noisy(flip=F) needs a number F in [0, 1], got {m.group(1)!r}") from None
        if not 0.0 <= flip <= 1.0:
            raise _error(spec, f"noisy(flip=F) needs F in [0, 1], got {flip}")
        return Noisy(oracle_from_spec(m.group(2), references=references, one_order=one_order), flip=flip)
    head, options = _split_options(spec, spec)
    form, _, body = head.partition(":")

    if form == "length":
        _no_more(spec, "length", options, "no options")
        return CallableOracle(compare_fn=_longer, name="length")
    if form == "task":
        from preflab.tasks import get_task

        _no_more(spec, "task", options, "no options")
        try:
            return get_task(body).oracle()
        except ValueError as e:
            raise _error(spec, str(e)) from None
    if form == "llm":
        from .llm_judge import DEFAULT_SYSTEM, DEFAULT_TEMPLATE, LLMJudge
        from .verdict import GRADED_SYSTEM, GRADED_TEMPLATE

        m = _LLM.match(body)
        if not m:
            raise _error(spec, "llm: takes MODEL@URL, e.g. llm:my-judge@http://127.0.0.1:8000/v1")
        key = _take(spec, options, "key", str, None) or os.environ.get(API_KEY_ENV) or "EMPTY"
        template = _take(spec, options, "template", str, "graded")
        if template not in ("graded", "letter"):
            raise _error(spec, f"option template={template!r} must be 'graded' ([[A>>B]] ... [[B>>A]]) or 'letter'")
        graded = template == "graded"
        kwargs = dict(
            max_tokens=_take(spec, options, "max_tokens", int, 2048 if graded else 16),
            concurrency=_take(spec, options, "concurrency", int, 4),
            timeout=_take(spec, options, "timeout", float, 120.0),
            max_retries=_take(spec, options, "max_retries", int, 3),
            logprobs=_take(spec, options, "logprobs", bool, not graded),
            temperature=_take(spec, options, "temperature", float, 0.0),
        )
        _no_more(spec, "llm", options, "key, template, max_tokens, concurrency, timeout, max_retries, logprobs, "
                                       "temperature")
        return LLMJudge(m.group("model"), m.group("url"), api_key=key,
                        template=GRADED_TEMPLATE if graded else DEFAULT_TEMPLATE,
                        system=GRADED_SYSTEM if graded else DEFAULT_SYSTEM, both_orders=not one_order, **kwargs)
    if form == "reward-model":
        from .reward_model import RewardModelOracle

        temperature = _take(spec, options, "temperature", float, 1.0)
        _no_more(spec, "reward-model", options, "temperature")
        if not body:
            raise _error(spec, "reward-model: takes a folder, e.g. reward-model:./my-rm")
        return RewardModelOracle(body, temperature=temperature, name=f"reward-model:{body}")
    if form == "pairwise-model":
        _no_more(spec, "pairwise-model", options, "no options")
        if not body:
            raise _error(spec, "pairwise-model: takes a folder, e.g. pairwise-model:./pairrm")
        return _pairwise_classifier(body, f"pairwise-model:{body}", both_orders=not one_order)
    if form == "embedding":
        from .embedding import EmbeddingSimilarityOracle

        temperature = _take(spec, options, "temperature", float, 0.1)
        _no_more(spec, "embedding", options, "temperature")
        refs = _references(spec, body) if body else references
        if refs is None:
            raise _error(spec, "embedding needs reference answers: name a jsonl file of {\"prompt\", \"reference\"} "
                               "lines (embedding:refs.jsonl) or give the input lines a 'reference' field")
        refs = dict(refs)

        def target(prompt: str) -> str:
            if prompt not in refs:
                raise ValueError(f"judge spec {spec!r}: no reference answer for prompt {prompt[:60]!r}; add one")
            return refs[prompt]

        return EmbeddingSimilarityOracle(target, temperature=temperature,
                                         name=f"embedding:{body or 'references'}:T={temperature:g}")
    if form == "python":
        return _python(spec, body, options)
    raise _error(spec, f"unknown form {form!r}")
