"""``load_preferences``: source to validated, tokenized, cached preference data, in one call.

Read the rows (``sources``), tell the kind and style (``formats``), check every row (``validate``),
render conversations with the chat template (``chat_template``), tokenize in batches and truncate
(``tokenization``), keep the result on disk under a fingerprint (``cache``). A second call with the same
data, tokenizer and settings opens the cached arrays without tokenizing again.

Bad rows stop everything: a DataError lists every problem by file, row and column, unless
``skip_bad_rows=True``, which drops those rows, warns (DataWarning) and counts them in ``stats``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Optional, Union

from tqdm import tqdm

from .cache import default_cache_dir, lookup, make_fingerprint, store
from .chat_template import render_conversations, require_chat_template
from .dataset import ArrayBuilder, PreferenceDataset
from .errors import SHOWN_PROBLEMS, DataError, DataWarning, Problem, summarize
from .formats import RESPONSE_COLUMNS, detect_kind, detect_style, normalize_kind, normalize_style, required_columns
from .sources import Rows, resolve_source
from .tokenization import encode_completions, encode_prompts, tokenizer_fingerprint, tokenizer_name, truncate
from .validate import Record, check_rows

__all__ = ["load_preferences", "build_dataset"]

_BATCH_ROWS = 4096  # rows a tokenizer call sees at once: large enough for a fast tokenizer's threads
_STYLE_SCAN_ROWS = 1024  # rows looked at to tell the style when the first prompts are missing


def load_preferences(
    source: Any,
    tokenizer: Any,
    *,
    split: str = "train",
    kind: Optional[str] = None,
    style: Optional[str] = None,
    max_prompt_length: Optional[int] = None,
    max_completion_length: Optional[int] = None,
    skip_bad_rows: bool = False,
    cache_dir: Union[str, Path, None, bool] = None,
) -> PreferenceDataset:
    """Load, validate and tokenize preference data.

    Args:
      source: a ``.jsonl`` / ``.json`` / ``.csv`` / ``.parquet`` file, a ``save_to_disk`` folder, a Hub
        dataset name, a ``datasets.Dataset`` / ``DatasetDict``, a list of dicts or a dict of lists.
      tokenizer: a Hugging Face tokenizer (a fast one tokenizes many times faster); conversational data
        needs its chat template.
      split: the split of a Hub dataset or DatasetDict (a file is one split).
      kind: ``"pairwise"`` (or ``"paired"``), ``"listwise"``, ``"unpaired"``; None detects it from the columns.
      style: ``"standard"`` or ``"conversational"``; None detects it from the first prompt.
      max_prompt_length: keep a prompt's last this many tokens (None: no limit).
      max_completion_length: keep a response's first this many tokens (None: no limit).
      skip_bad_rows: drop bad rows (counted in ``stats["skipped_rows"]``, with a DataWarning) instead of
        raising a DataError.
      cache_dir: where tokenized data is kept (default ``~/.cache/preflab/data``); False for no cache.
        An explicit folder also holds the copies that ``datasets`` makes while reading files.

    Returns a :class:`PreferenceDataset`; ``stats`` counts rows, skipped rows and truncations.
    """
    kind = normalize_kind(kind)
    style = normalize_style(style)
    for name, value in (("max_prompt_length", max_prompt_length), ("max_completion_length", max_completion_length)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise DataError(f"{name} must be a positive int or None (no limit), got {value!r}")
    if not callable(tokenizer):
        raise DataError(f"tokenizer must be a Hugging Face tokenizer (AutoTokenizer.from_pretrained(...)), got "
                        f"{type(tokenizer).__name__}")
    if not isinstance(skip_bad_rows, bool):
        raise DataError(f"skip_bad_rows must be True or False, got {skip_bad_rows!r}")
    root = None if cache_dir is False else Path(cache_dir or default_cache_dir()).expanduser()
    datasets_cache = str(root / "datasets") if cache_dir not in (None, False) else None

    src = resolve_source(source, split, datasets_cache=datasets_cache)
    settings = {"split": split, "kind": kind, "style": style, "max_prompt_length": max_prompt_length,
                "max_completion_length": max_completion_length, "skip_bad_rows": skip_bad_rows}
    fingerprint = make_fingerprint(src.content_hash(), tokenizer_fingerprint(tokenizer), settings)
    if root is not None:
        cached = lookup(root, fingerprint)
        if cached is not None:
            _warn_skipped(cached.stats)
            return cached
    dataset = build_dataset(
        src.read(datasets_cache), tokenizer, kind=kind, style=style, max_prompt_length=max_prompt_length,
        max_completion_length=max_completion_length, skip_bad_rows=skip_bad_rows, fingerprint=fingerprint,
    )
    if root is not None:
        dataset.path = store(root, dataset)
    _warn_skipped(dataset.stats)
    return dataset


def build_dataset(
    rows: Rows,
    tokenizer: Any,
    *,
    kind: Optional[str] = None,
    style: Optional[str] = None,
    max_prompt_length: Optional[int] = None,
    max_completion_length: Optional[int] = None,
    skip_bad_rows: bool = False,
    fingerprint: str = "",
) -> PreferenceDataset:
    """Validate and tokenize ``rows`` (no cache): the work behind ``load_preferences``.

    With ``skip_bad_rows`` the dropped rows are counted in ``stats["skipped_rows"]`` and the first
    problems listed in ``stats["problems"]``; ``load_preferences`` also warns about them.
    """
    kind = kind or detect_kind(rows.columns, source=rows.name)
    columns = required_columns(kind, rows.columns, source=rows.name)
    style = style or _detect_style(rows, kind)
    conversational = style == "conversational"
    if conversational:
        require_chat_template(tokenizer, rows.name)

    found: list[tuple[int, Optional[str], str]] = []
    builder = ArrayBuilder()
    has_scores = "scores" in columns or "score_chosen" in columns
    counts = {"truncated_prompts": 0, "truncated_completions": 0}
    with tqdm(total=rows.num_rows, unit="rows", desc=f"tokenizing {rows.name}", disable=None, leave=False) as bar:
        for start, batch in rows.batches(_BATCH_ROWS, columns):
            n = len(batch[columns[0]])
            broken = {i: m for i, m in rows.unparsable.items() if start <= i < start + n}
            records, problems = check_rows(batch, start=start, kind=kind, style=style, text_cells=rows.text_cells)
            found += sorted([(i, None, m) for i, m in broken.items()] + [p for p in problems if p[0] not in broken],
                            key=lambda p: p[0])
            if conversational:
                records, prompts, completions, unsplittable = _render(tokenizer, records, kind)
                found += unsplittable
            else:
                prompts = [r.prompt for r in records]
                completions = [r.completions for r in records]
            if found and not skip_bad_rows:
                bar.update(n)
                continue  # keep checking, so that the error lists every problem; tokenize nothing more
            _tokenize_into(builder, tokenizer, records, prompts, completions, conversational, has_scores,
                           max_prompt_length, max_completion_length, counts)
            bar.update(n)

    problems = _located(rows, found)
    if problems and not skip_bad_rows:
        raise DataError.from_problems(
            rows.name, problems,
            hint="Fix these rows, or pass skip_bad_rows=True to drop them (the count goes to the dataset's stats).",
        )
    arrays = builder.finish()
    if len(arrays["index"]) == 0:
        raise DataError(
            f"{rows.name}: no usable rows ({rows.num_rows} read, {len({p.row for p in problems})} bad); "
            "there is nothing to train on" + (f"\n{summarize(rows.name, problems)}" if problems else "")
        )
    stats = _stats(rows, kind, style, arrays, problems, counts, max_prompt_length, max_completion_length)
    return PreferenceDataset(arrays, kind=kind, style=style, fingerprint=fingerprint, stats=stats,
                             tokenizer_name=tokenizer_name(tokenizer))


# --------------------------------------------------------------------------------------------------


def _detect_style(rows: Rows, kind: str) -> str:
    """The style of the first row whose prompt (else first response) says; standard if none does."""
    columns = ("prompt",) + RESPONSE_COLUMNS[kind]
    for _, batch in rows.batches(_STYLE_SCAN_ROWS, columns):
        for i in range(len(batch["prompt"])):
            for c in columns:
                value = batch[c][i]
                if c == "responses" and isinstance(value, list) and value:
                    value = value[0]
                if rows.text_cells and isinstance(value, str) and value.startswith("[{"):
                    return "conversational"  # a CSV cell holding JSON messages
                style = detect_style(value)
                if style:
                    return style
        break
    return "standard"


def _render(tokenizer: Any, records: list[Record], kind: str):
    """Chat-template texts of ``records``, without the rows the template cannot split, and their problems."""
    prompts, completions, failures = render_conversations(
        tokenizer, [r.prompt for r in records], [r.completions for r in records]
    )
    problems, bad = [], set()
    for pos, k, message in failures:
        if pos in bad:
            continue  # one problem a row is enough: the template fails the same way for its other responses
        bad.add(pos)
        if kind == "listwise":
            problems.append((records[pos].index, "responses", f"response {k + 1}: {message}"))
        else:
            problems.append((records[pos].index, RESPONSE_COLUMNS[kind][k], message))
    if not bad:
        return records, prompts, completions, problems
    keep = [i for i in range(len(records)) if i not in bad]
    return [records[i] for i in keep], [prompts[i] for i in keep], [completions[i] for i in keep], problems


def _tokenize_into(builder, tokenizer, records, prompts, completions, conversational, has_scores,
                   max_prompt_length, max_completion_length, counts) -> None:
    if not records:
        return
    prompt_ids = encode_prompts(tokenizer, prompts, conversational=conversational)
    flat = encode_completions(tokenizer, [c for cs in completions for c in cs], conversational=conversational)
    cut_prompts = [truncate(ids, max_prompt_length, keep="last") for ids in prompt_ids]
    cut_flat = [truncate(ids, max_completion_length, keep="first") for ids in flat]
    counts["truncated_prompts"] += sum(len(a) != len(b) for a, b in zip(prompt_ids, cut_prompts))
    counts["truncated_completions"] += sum(len(a) != len(b) for a, b in zip(flat, cut_flat))
    grouped, pos = [], 0
    for cs in completions:
        grouped.append(cut_flat[pos:pos + len(cs)])
        pos += len(cs)
    first = records[0]
    builder.add(
        [r.index for r in records], cut_prompts, grouped,
        ranks=[r.ranks for r in records] if first.ranks is not None else None,
        scores=[r.scores if r.scores is not None else [float("nan")] * len(r.completions) for r in records]
        if has_scores else None,
        labels=[r.labels for r in records] if first.labels is not None else None,
    )


def _located(rows: Rows, found: list[tuple[int, Optional[str], str]]) -> list[Problem]:
    if not found:
        return []
    found = sorted(found, key=lambda p: p[0])  # row order; a row's own problems keep their order
    where = rows.locate(i for i, _, _ in found)
    return [Problem(rows.name, i, column, message, where[i]) for i, column, message in found]


def _stats(rows, kind, style, arrays, problems, counts, max_prompt_length, max_completion_length) -> dict:
    prompt_lengths = arrays["prompt_offsets"][1:] - arrays["prompt_offsets"][:-1]
    completion_lengths = arrays["completion_offsets"][1:] - arrays["completion_offsets"][:-1]
    return {
        "source": rows.name,
        "kind": kind,
        "style": style,
        "source_rows": rows.num_rows,
        "rows": int(len(arrays["index"])),
        "skipped_rows": len({p.row for p in problems}),
        "completions": int(len(completion_lengths)),
        "truncated_prompts": counts["truncated_prompts"],
        "truncated_completions": counts["truncated_completions"],
        "max_prompt_length": max_prompt_length,
        "max_completion_length": max_completion_length,
        "prompt_tokens_max": int(prompt_lengths.max()),
        "prompt_tokens_mean": round(float(prompt_lengths.mean()), 2),
        "completion_tokens_max": int(completion_lengths.max()),
        "completion_tokens_mean": round(float(completion_lengths.mean()), 2),
        "problems": [str(p) for p in problems[:SHOWN_PROBLEMS]],
        "problem_count": len(problems),
    }


def _warn_skipped(stats: dict) -> None:
    if not stats.get("skipped_rows"):
        return
    shown = stats["problems"]
    more = stats["problem_count"] - len(shown)
    warnings.warn(
        DataWarning(
            f"{stats['source']}: skipped {stats['skipped_rows']} bad row(s) of {stats['source_rows']} "
            f"(skip_bad_rows=True); {stats['rows']} remain:\n" + "\n".join(f"  {p}" for p in shown)
            + (f"\n  ... and {more} more" if more > 0 else "")
        ),
        stacklevel=3,
    )
