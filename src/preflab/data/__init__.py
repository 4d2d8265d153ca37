"""Preference data: load, validate, tokenize and cache pairwise, listwise and unpaired data.

``load_preferences(source, tokenizer)`` reads jsonl, json, csv, parquet, a ``save_to_disk`` folder, a
Hub dataset or rows in memory; tells the kind (pairwise / listwise / unpaired) from TRL's column names
and the style (standard strings or conversational messages) from the first prompt; checks every row,
naming each bad one by file, row and column; applies the chat template to conversations; tokenizes in
batches; and caches the token ids on disk under a fingerprint of data, tokenizer and settings.

Special tokens: a standard prompt gets the tokenizer's BOS (never two), a standard response gets EOS;
conversational texts carry what the chat template puts there. Truncation: a prompt over
``max_prompt_length`` keeps its **last** tokens (left truncation), a response over
``max_completion_length`` its **first**; ``stats["truncated_prompts"]`` and
``stats["truncated_completions"]`` count them. Details: ``tokenization``, ``chat_template``, ``cache``.

>>> from tokenizers import Tokenizer, models, pre_tokenizers
>>> from transformers import PreTrainedTokenizerFast
>>> vocab = {w: i for i, w in enumerate(["<s>", "</s>", "Q:", "2+2?", "4", "5"])}
>>> core = Tokenizer(models.WordLevel(vocab, unk_token="</s>"))
>>> core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
>>> tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>")
>>> ds = load_preferences([{"prompt": "Q: 2+2?", "chosen": "4", "rejected": "5"}], tok, cache_dir=False)
>>> ds.kind, ds.style, len(ds)
('pairwise', 'standard', 1)
>>> ex = ds[0]
>>> ex.prompt_ids, ex.completion_ids, ex.ranks
([2, 3], [[4, 1], [5, 1]], [0, 1])
>>> load_preferences([{"prompt": "Q: 2+2?", "chosen": "4", "rejected": ""}], tok, cache_dir=False)
Traceback (most recent call last):
...
preflab.data.errors.DataError: rows: 1 problem in 1 row:
  rows: row 1 (index 0), column 'rejected': empty response
Fix these rows, or pass skip_bad_rows=True to drop them (the count goes to the dataset's stats).
"""

from .cache import FORMAT_VERSION, default_cache_dir
from .dataset import PreferenceDataset, PreferenceExample
from .errors import DataError, DataWarning, Problem
from .formats import KINDS, STYLES
from .grouping import group_by_prompt
from .load import build_dataset, load_preferences
from .sources import Rows, read_rows

__all__ = ["group_by_prompt", 
    "load_preferences", "PreferenceDataset", "PreferenceExample", "DataError", "DataWarning", "Problem",
    "read_rows", "Rows", "build_dataset", "KINDS", "STYLES", "FORMAT_VERSION", "default_cache_dir",
]
