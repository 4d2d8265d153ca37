"""The on-disk cache of tokenized data: tokenize once, reuse while nothing that matters changes.

The key is a fingerprint of

* the data's content (the bytes of the file or folder; datasets' fingerprint for a Hub or in-memory
  dataset), not its path or modification time;
* the tokenizer's identity: vocabulary, merges, normalizer, special tokens, chat template
  (``tokenization.tokenizer_fingerprint``), not its name;
* every setting that changes the result (kind, style, lengths, split, skipping bad rows);
* ``FORMAT_VERSION``, raised whenever this package changes what it writes or how it tokenizes.

Each entry is a folder ``<cache_dir>/<fingerprint>/`` of ``.npy`` arrays and ``meta.json``, written to
a temporary folder and renamed into place, so a crash or a concurrent writer never leaves half an entry.
The default ``cache_dir`` is ``$XDG_CACHE_HOME/preflab/data`` (``~/.cache/preflab/data``). Deleting
the folder is always safe.

>>> a = make_fingerprint("data-hash", "tokenizer-hash", {"max_prompt_length": 512})
>>> a == make_fingerprint("data-hash", "tokenizer-hash", {"max_prompt_length": 512}), len(a)
(True, 32)
>>> a == make_fingerprint("data-hash", "tokenizer-hash", {"max_prompt_length": 256})
False
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Optional, Union

from .dataset import PreferenceDataset

__all__ = ["FORMAT_VERSION", "default_cache_dir", "make_fingerprint", "lookup", "store"]

FORMAT_VERSION = 2  # 2: pairwise score_chosen / score_rejected


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/preflab/data``, or ``~/.cache/preflab/data``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "preflab" / "data"


def make_fingerprint(data_hash: str, tokenizer_hash: str, settings: dict) -> str:
    """The cache key of one tokenization (32 hex digits)."""
    key = {"format": FORMAT_VERSION, "data": data_hash, "tokenizer": tokenizer_hash, "settings": settings}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def lookup(cache_dir: Union[str, Path], fingerprint: str) -> Optional[PreferenceDataset]:
    """The cached dataset of ``fingerprint``, or None (also for an entry that cannot be read)."""
    path = Path(cache_dir) / fingerprint
    if not (path / "meta.json").is_file():
        return None
    try:
        ds = PreferenceDataset.load(path)
    except (OSError, ValueError, KeyError):  # a damaged entry is rebuilt, not fatal
        return None
    return ds if ds.fingerprint == fingerprint else None


def store(cache_dir: Union[str, Path], dataset: PreferenceDataset) -> Path:
    """Write ``dataset`` under its fingerprint; returns the entry's folder."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / dataset.fingerprint
    tmp = cache_dir / f".tmp-{dataset.fingerprint}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    dataset.save(tmp)
    if final.exists():  # a damaged entry (lookup refused it), or a concurrent writer finished first
        shutil.rmtree(final, ignore_errors=True)
    try:
        os.replace(tmp, final)
    except OSError:  # another process renamed its copy into place in between: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return final
