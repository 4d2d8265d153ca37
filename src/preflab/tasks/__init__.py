"""Built-in tasks with known ground-truth preferences: synthetic word tasks (transitive, heterogeneous
annotators, sentiment) for tiny models on a CPU."""

from .synthetic import TASKS, WordTask, get_task
from .vocab import word_tokenizer

__all__ = ["TASKS", "WordTask", "get_task", "word_tokenizer"]
