"""Arena: pairwise battles among models, a store (SQLite), ratings with intervals, reports.

>>> from preflab.arena import Battle, Store, rate
>>> store = Store(":memory:")
>>> store.add_many([Battle(model_a="a", model_b="b", winner=w, id=str(i))
...                 for i, w in enumerate(["model_a", "model_a", "model_b", "tie"])])
4
>>> r = rate(store.battles(), method="bt", interval="none")
>>> round(r.table["a"]["rating"], 1), round(r.table["b"]["rating"], 1)
(1044.4, 955.6)
"""

from .store import WINNERS, Battle, Store

__all__ = ["WINNERS", "Battle", "Store", "rate"]


def __getattr__(name):
    """``rate`` is imported on first use (it loads scipy); the store needs only the standard library."""
    if name == "rate":
        from .ratings import rate
        return rate
    raise AttributeError(f"module 'preflab.arena' has no attribute '{name}'")
