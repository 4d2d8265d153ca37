"""Reading a judge's reply: which answer it chose ("A", "B" or a tie), and how sure it was from token logprobs.

>>> parse_verdict("B").winner, parse_verdict("**A**").winner, parse_verdict("[[C]]").winner
('B', 'A', 'tie')
>>> parse_verdict("Answer A has an error, so the better answer is: B.").winner
'B'
>>> parse_verdict("Both answers are equally good.").winner, parse_verdict("I cannot say.").winner
('tie', None)
>>> logprobs = [{"token": "A", "logprob": -0.2, "top_logprobs": [{"token": "A", "logprob": -0.2},
...                                                               {"token": "B", "logprob": -1.8}]}]
>>> round(verdict_probability("A", logprobs, parse_verdict("A")), 4)     # e^-0.2 / (e^-0.2 + e^-1.8)
0.832
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

__all__ = ["Verdict", "parse_verdict", "verdict_probability"]


@dataclass(frozen=True)
class Verdict:
    """``winner``: "A", "B", "tie", or None when the reply names none; ``start``: the character offset of the
    letter in the reply (None for ties and failures)."""

    winner: Optional[str]
    start: Optional[int] = None

    def probability(self) -> Optional[float]:
        """P(A wins) as a hard label: 1, 0, 1/2 for a tie, None when unparsed."""
        return {"A": 1.0, "B": 0.0, "tie": 0.5}.get(self.winner)


_BRACKETED = re.compile(r"\[\[\s*(A|B|C|tie|TIE|Tie)\s*\]\]")
_LEADING = re.compile(r"^[\s\*\"'`\(\[#>:]*(A|B)(?![A-Za-z0-9])(?P<rest>.*)", re.DOTALL)
# "A good answer ..." opens with the article: a leading "A" followed by a lowercase word is a letter only
# when that word reads like a verdict.
_ARTICLE = re.compile(r"^ +(?!(?:is|wins|was|because|since|as|it)\b)[a-z]")
_LEADING_TIE = re.compile(r"^[\s\*\"'`\(\[]*(?:(tie|draw|equal|C)(?![A-Za-z0-9])|(?:neither|both|none)[\s\*\"'`\)\].!]*$)",
                          re.IGNORECASE)
_DECISIVE = re.compile(
    r"(?i:verdict|winner|decision|final answer|my answer|better(?: answer| response| one)?\s+is|"
    r"\bprefer(?:red)?|\bchoose|\bchoice|\bpick|\b(?:answer|response|one) is)"
    r"[\s:=\*\"'`\(\[-]*(?i:(?:answer|response|output|assistant|option)\s*)?[\(\[\*\"'`]*(A|B)(?![A-Za-z0-9])"
)
_NAMED = re.compile(r"(?i:answer|response|output|assistant|option)\s*[:\(\[\*\"'`]*\s*(A|B)(?![A-Za-z0-9])")
_TIE_WORDS = re.compile(r"\b(tie|draw|equally (?:good|bad|helpful|correct)|both (?:are )?(?:equally|equal)|"
                        r"neither is better|no (?:clear )?winner)\b", re.IGNORECASE)


def parse_verdict(text: str) -> Verdict:
    """The choice in a judge's reply, read by rules from strict to loose:

    1. ``[[A]]`` / ``[[B]]`` / ``[[C]]`` or ``[[tie]]`` (MT-Bench's format; C is a tie);
    2. a reply that opens with the letter (``A``, ``**B**``, ``(A).``, ``B is better``; not the article in
       ``A good answer ...``), or with a tie word;
    3. the last decisive phrase: ``verdict: A``, ``the better answer is B``, ``I prefer Response A``;
    4. a tie phrase (``tie``, ``equally good``, ...);
    5. the only letter named as ``Answer X`` / ``Response X`` (when both are named: no verdict).
    """
    if not isinstance(text, str):
        return Verdict(None)
    m = _BRACKETED.search(text)
    if m:
        w = m.group(1).upper()
        return Verdict("tie", None) if w in ("C", "TIE") else Verdict(w, m.start(1))
    m = _LEADING.match(text)
    if m is None and text.strip().strip("*()[].:'\"`") in ("a", "b"):
        return Verdict(text.strip().strip("*()[].:'\"`").upper(), text.index(text.strip().strip("*()[].:'\"`")))
    if m and not (m.group(1) == "A" and _ARTICLE.match(m.group("rest"))):
        return Verdict(m.group(1), m.start(1))
    m = _LEADING_TIE.match(text)
    if m and (m.group(1) != "C" or len(text.strip().strip("*()[].:'\"`")) == 1):  # "C" alone, not "Clearly"
        return Verdict("tie")
    decisive = list(_DECISIVE.finditer(text))
    if decisive:
        m = decisive[-1]
        return Verdict(m.group(1), m.start(1))
    if _TIE_WORDS.search(text):
        return Verdict("tie")
    named = list(_NAMED.finditer(text))
    letters = {m.group(1).upper() for m in named}
    if len(letters) == 1:
        return Verdict(named[0].group(1).upper(), named[0].start(1))
    return Verdict(None)


def _get(obj: Any, key: str):
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _letter(token: Optional[str]) -> Optional[str]:
    if not token:
        return None
    t = token.replace("\u0120", " ").replace("\u2581", " ").strip().strip("*()[]\"'`:.")
    return t if t in ("A", "B") else None


def verdict_probability(text: str, logprobs: Optional[Sequence[Any]], verdict: Verdict) -> Optional[float]:
    """P(A wins) from the logprobs of the token that carries the verdict letter, or None when they don't help.

    ``logprobs`` is the chat completion's ``choices[0].logprobs.content``: one entry per generated token with
    ``token``, ``logprob`` and ``top_logprobs``. The verdict token is the one covering ``verdict.start`` (when
    the tokens spell out ``text``), else the first token that is the verdict letter. At that position,
    ``P(A) = sum exp(lp of tokens reading "A") / sum exp(lp of tokens reading "A" or "B")``; a letter absent
    from the top logprobs counts as probability 0. Ties and unparsed replies give None.
    """
    if not logprobs or verdict.winner not in ("A", "B"):
        return None
    tokens = [_get(entry, "token") or "" for entry in logprobs]
    position = None
    if verdict.start is not None and "".join(tokens) == text:
        offset = 0
        for i, tok in enumerate(tokens):
            if offset <= verdict.start < offset + len(tok):
                position = i if _letter(tok) == verdict.winner else None
                break
            offset += len(tok)
    if position is None:
        position = next((i for i, tok in enumerate(tokens) if _letter(tok) == verdict.winner), None)
    if position is None:
        return None
    entry = logprobs[position]
    mass = {"A": 0.0, "B": 0.0}
    seen = set()
    candidates = list(_get(entry, "top_logprobs") or [])
    candidates.append({"token": _get(entry, "token"), "logprob": _get(entry, "logprob")})
    for cand in candidates:
        tok, lp = _get(cand, "token"), _get(cand, "logprob")
        letter = _letter(tok)
        if letter is None or lp is None or tok in seen:
            continue
        seen.add(tok)
        mass[letter] += math.exp(float(lp))
    total = mass["A"] + mass["B"]
    if total <= 0:
        return None
    return mass["A"] / total
