"""The one error type of ``preflab.models``: what was wrong with a model or its source, and how to fix it."""

from preflab.errors import PreflabError

__all__ = ["ModelError"]


class ModelError(PreflabError, ValueError):
    """A model, tokenizer or adapter that preflab cannot load or use; the message names the fix."""
