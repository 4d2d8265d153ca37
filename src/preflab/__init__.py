"""preflab: preference optimization of language models.

train with any preference objective, play online Nash games, judge and rank, discover new objectives.
"""

__version__ = "0.1.0"
