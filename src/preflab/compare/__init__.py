"""Comparing online methods over seeds: every (method, seed) an online run (local processes or Ray), then a
final arena of all final policies and the SFT policies under the task's exact oracle, bootstrap intervals over
seeds, paired differences, ``results.json`` and ``report.html``.

``preflab compare --config examples/configs/compare_heterogeneous.yaml`` runs it from the command line;
:func:`run_compare` is the library call.
"""

from .config import CompareConfig, MethodEntry, method_entries, seed_list
from .run import METRICS, run_compare
from .stats import bootstrap_mean, paired_difference

__all__ = ["CompareConfig", "MethodEntry", "method_entries", "seed_list", "run_compare", "METRICS",
           "bootstrap_mean", "paired_difference"]
