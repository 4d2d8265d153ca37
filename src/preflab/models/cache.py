"""A folder that is built once and then shared: built in a temporary sibling, published by one rename.

``build_once(folder, build, is_complete)`` returns ``folder`` when ``is_complete(folder)``; otherwise it
calls ``build(tmp)`` on a fresh temporary sibling ``.NAME.tmp-*`` and renames that to ``NAME``. So:

* a build that is killed leaves no half-written ``NAME``, only a ``.NAME.tmp-*`` leftover, which the next
  build removes;
* two processes that build at once take turns on a lock file ``.NAME.lock`` (``fcntl.flock`` where the
  platform has it), and the second finds the first one's folder complete and builds nothing; without
  the lock both build, the second rename fails because ``NAME`` exists, and the loser, seeing that
  folder complete, drops its own copy;
* a folder that exists but is not complete (say it was built from an older source) is replaced.

>>> import pathlib, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> def build(tmp):
...     (tmp / "done.txt").write_text("ok")
>>> def complete(folder):
...     return (folder / "done.txt").is_file()
>>> build_once(root / "greeting", build, complete).name
'greeting'
>>> sorted(p.name for p in root.iterdir())
['.greeting.lock', 'greeting']

The root of every cache preflab writes is ``$PREFLAB_CACHE``, else ``$XDG_CACHE_HOME/preflab``, else
``~/.cache/preflab``:

>>> str(cache_root({"PREFLAB_CACHE": "/data/preflab"}))
'/data/preflab'
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional, Union

__all__ = ["cache_root", "build_once"]

PathLike = Union[str, "os.PathLike[str]"]


def cache_root(environ: Optional[Mapping[str, str]] = None) -> Path:
    """``$PREFLAB_CACHE``, else ``$XDG_CACHE_HOME/preflab``, else ``~/.cache/preflab`` (read at call time)."""
    environ = os.environ if environ is None else environ
    if environ.get("PREFLAB_CACHE"):
        return Path(environ["PREFLAB_CACHE"]).expanduser()
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base).expanduser() / "preflab"


def build_once(folder: PathLike, build: Callable[[Path], None], is_complete: Callable[[Path], bool]) -> Path:
    """``folder``, built by ``build(tmp)`` into a temporary sibling and renamed into place unless already complete.

    ``build`` must leave ``tmp`` in a state where ``is_complete(tmp)`` is true (checked before publishing).
    """
    folder = Path(folder)
    if is_complete(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _locked(folder.parent / f".{folder.name}.lock") as exclusive:
        if is_complete(folder):  # another process built it while this one waited for the lock
            return folder
        if exclusive:
            _remove_leftovers(folder)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the published folder is an ordinary one
        try:
            build(tmp)
            if not is_complete(tmp):
                raise RuntimeError(f"building {folder} left {tmp} incomplete; nothing was published")
            _publish(tmp, folder, is_complete)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _publish(tmp: Path, folder: Path, is_complete: Callable[[Path], bool]) -> None:
    """Rename ``tmp`` to ``folder``, first moving aside an incomplete ``folder``; losing a race to a complete
    one is fine."""
    if folder.exists() and not is_complete(folder):
        trash = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(folder, trash)
        except FileNotFoundError:
            pass
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.rename(tmp, folder)
    except OSError:
        if not is_complete(folder):
            raise
        # A concurrent build published first; its folder is complete, and ours is removed by the caller.


def _remove_leftovers(folder: Path) -> None:
    """Delete temporary and moved-aside siblings that killed builds left behind (only under the lock)."""
    for pattern in (f".{folder.name}.tmp-*", f".{folder.name}.old-*"):
        for leftover in folder.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


@contextmanager
def _locked(path: Path) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``path``; yields False (no lock) where ``fcntl`` does not exist."""
    try:
        import fcntl
    except ImportError:  # Windows: the rename race above is the only protection
        yield False
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
