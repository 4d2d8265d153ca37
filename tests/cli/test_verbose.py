"""Quiet by default: the CLI silences the libraries' progress bars and warnings before they load (and its
worker processes inherit that); ``--verbose``, before or after the verb, leaves them as they are."""

import os
import subprocess
import sys

from preflab.cli import QUIET_ENV

PROBE = ("import os, sys; from preflab.cli import main; main(sys.argv[1:]); "
         "print([os.environ.get(k) for k in {keys!r}])")


def _env_after(*args):
    env = {k: v for k, v in os.environ.items() if k not in QUIET_ENV}
    code = PROBE.format(keys=sorted(QUIET_ENV))
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_quiet_by_default_and_verbose_anywhere_on_the_line():
    assert _env_after("objectives", "--data", "listwise") == str([QUIET_ENV[k] for k in sorted(QUIET_ENV)])
    assert _env_after("--verbose", "objectives", "--data", "listwise") == str([None] * len(QUIET_ENV))
    assert _env_after("objectives", "--verbose", "--data", "listwise") == str([None] * len(QUIET_ENV))
