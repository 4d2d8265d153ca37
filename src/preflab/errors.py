"""One family for the errors preflab raises on purpose.

Every such error says what was wrong, where (file, row, key) and how to fix it; ``preflab`` turns any of them
into exit status 2 and one line. Each subclass also keeps the built-in base it always had (``ValueError`` for
bad input, ``RuntimeError`` for a run that cannot go on), so ``except ValueError`` callers keep working.

>>> from preflab.config import ConfigError
>>> from preflab.oracles import OracleError
>>> issubclass(ConfigError, PreflabError) and issubclass(ConfigError, ValueError)
True
>>> issubclass(OracleError, PreflabError) and issubclass(OracleError, RuntimeError)
True
"""

__all__ = ["PreflabError"]


class PreflabError(Exception):
    """An error preflab raised on purpose, with a message that says what to fix."""
