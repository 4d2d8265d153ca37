"""Unpaired rows that share a prompt, gathered into one example with K labelled responses.

TRL's unpaired format has one completion a row. Objectives that contrast responses of the same prompt
(D2O: the model's own samples against human negatives) need them together; KTO and BCO give the same
loss either way.

>>> from preflab.data import PreferenceDataset, PreferenceExample
>>> rows = [PreferenceExample(0, [1, 2], [[5]], None, None, [1]), PreferenceExample(1, [3], [[6]], None, None, [-1]),
...         PreferenceExample(2, [1, 2], [[7]], None, None, [-1])]
>>> ds = PreferenceDataset.from_examples(rows, kind="unpaired", style="standard", fingerprint="f", stats={},
...                                      tokenizer_name="toy")
>>> grouped = group_by_prompt(ds)
>>> [(e.index, e.completion_ids, e.labels) for e in grouped]
[(0, [[5], [7]], [1, -1]), (1, [[6]], [-1])]
"""

from __future__ import annotations

from .dataset import PreferenceDataset, PreferenceExample

__all__ = ["group_by_prompt"]


def group_by_prompt(dataset: PreferenceDataset) -> PreferenceDataset:
    """One example per distinct prompt (first appearance order; its index is its first row's)."""
    if dataset.kind != "unpaired":
        raise ValueError(f"group_by_prompt gathers unpaired rows; this data is {dataset.kind}")
    groups: dict[tuple, list[PreferenceExample]] = {}
    for e in dataset:
        groups.setdefault(tuple(e.prompt_ids), []).append(e)
    examples = [
        PreferenceExample(index=g[0].index, prompt_ids=g[0].prompt_ids,
                          completion_ids=[c for e in g for c in e.completion_ids], ranks=None, scores=None,
                          labels=[lab for e in g for lab in e.labels])
        for g in groups.values()
    ]
    stats = {**dataset.stats, "rows": len(examples), "grouped_from_rows": len(dataset)}
    return PreferenceDataset.from_examples(examples, kind="unpaired", style=dataset.style,
                                           fingerprint=dataset.fingerprint + "|grouped", stats=stats,
                                           tokenizer_name=dataset.tokenizer_name)
