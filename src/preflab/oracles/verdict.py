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

Graded verdicts, as arena-hard-auto's judges give them (``[[A>>B]]`` ... ``[[B>>A]]``), carry a strength:
2 for ``>>`` (much better), 1 for ``>``; as a probability P(A wins) they read 1, 3/4, 1/2, 1/4, 0.

>>> v = parse_verdict("A is shorter but B is right. My final verdict is: [[B>A]]")
>>> v.winner, v.strength, v.probability(), v.label()
('B', 1, 0.25, '[[B>A]]')
>>> parse_verdict("[[A>>B]]").probability(), parse_verdict("[[A=B]]").winner
(1.0, 'tie')
>>> parse_verdict("[[A>B]] ... on reflection [[B>A]]").winner is None       # two different verdicts: none
True
>>> v = verdict_from_probability(0.875); v.winner, v.strength       # what a soft judge's P(A) reads as
('A', 1)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

__all__ = ["Verdict", "parse_verdict", "verdict_probability", "verdict_from_probability", "GRADED_SYSTEM",
           "GRADED_TEMPLATE", "GRADED_PROBABILITY"]

# P(A wins) of each graded verdict: the strength is how far from 1/2 it stands (1/4 a step)
GRADED_PROBABILITY = {("A", 2): 1.0, ("A", 1): 0.75, ("tie", None): 0.5, ("B", 1): 0.25, ("B", 2): 0.0}


@dataclass(frozen=True)
class Verdict:
    """``winner``: "A", "B", "tie", or None when the reply names none; ``start``: the character offset of the
    letter in the reply (None for ties, graded verdicts and failures); ``strength``: for a graded verdict 2
    (``>>``) or 1 (``>``) for a winner and None for a tie; None for an ungraded verdict."""

    winner: Optional[str]
    start: Optional[int] = None
    strength: Optional[int] = None

    def probability(self) -> Optional[float]:
        """P(A wins): 1, 0, 1/2 for a tie, None when unparsed; a graded winner of strength 1 gives 3/4 or 1/4."""
        if self.strength is not None and self.winner in ("A", "B"):
            return GRADED_PROBABILITY[(self.winner, self.strength)]
        return {"A": 1.0, "B": 0.0, "tie": 0.5}.get(self.winner)

    def label(self) -> Optional[str]:
        """The arena-hard label: ``[[A>>B]]``, ``[[A>B]]``, ``[[A=B]]``, ``[[B>A]]``, ``[[B>>A]]`` (an ungraded
        winner reads as strength 1), None when unparsed."""
        if self.winner == "tie":
            return "[[A=B]]"
        if self.winner not in ("A", "B"):
            return None
        loser = "B" if self.winner == "A" else "A"
        return f"[[{self.winner}{'>>' if self.strength == 2 else '>'}{loser}]]"


def verdict_from_probability(p: float) -> Verdict:
    """The graded verdict that a probability P(A wins) reads as: a tie at exactly 1/2; otherwise the likelier
    side, with strength 2 when ``|p - 1/2| > 3/8`` (closer to 1 or 0 than to 3/4 or 1/4) and 1 otherwise, so that
    :data:`GRADED_PROBABILITY` maps back to its own verdict."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"verdict_from_probability: P(A wins) must lie in [0, 1], got {p}")
    if p == 0.5:
        return Verdict("tie")
    return Verdict("A" if p > 0.5 else "B", None, 2 if abs(p - 0.5) > 0.375 else 1)


GRADED_SYSTEM = (
    "You judge the answers of two AI assistants to the same user prompt. First write your own answer to the "
    "prompt. Then compare both assistants' answers with yours: point out mistakes and inaccurate information, "
    "and say whether each answer is helpful (it does what the prompt asks; when the prompt is ambiguous, asking "
    "for clarification beats guessing), relevant and concise, and whether it misses anything important. Neither "
    "the order in which the answers are shown nor their length may sway you. End with exactly one verdict label:\n"
    "1. Assistant A is much better: [[A>>B]]\n"
    "2. Assistant A is slightly better: [[A>B]]\n"
    "3. Tie, relatively the same: [[A=B]]\n"
    "4. Assistant B is slightly better: [[B>A]]\n"
    "5. Assistant B is much better: [[B>>A]]\n"
    'For example: "My final verdict is: [[A>B]]".')

GRADED_TEMPLATE = """<|User Prompt|>
{prompt}

<|The Start of Assistant A's Answer|>
{answer_a}
<|The End of Assistant A's Answer|>

<|The Start of Assistant B's Answer|>
{answer_b}
<|The End of Assistant B's Answer|>"""


_GRADED = re.compile(r"\[\[\s*([AB])\s*(>>|>|=|<<|<)\s*([AB])\s*\]\]")
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

    0. graded labels ``[[A>>B]]``, ``[[A>B]]``, ``[[A=B]]``, ``[[B>A]]``, ``[[B>>A]]`` (also ``[[B<A]]``, ...):
       when every label in the reply says the same, that verdict with its strength; when they differ, none
       (as arena-hard-auto reads them);
    1. ``[[A]]`` / ``[[B]]`` / ``[[C]]`` or ``[[tie]]`` (MT-Bench's format; C is a tie);
    2. a reply that opens with the letter (``A``, ``**B**``, ``(A).``, ``B is better``; not the article in
       ``A good answer ...``), or with a tie word;
    3. the last decisive phrase: ``verdict: A``, ``the better answer is B``, ``I prefer Response A``;
    4. a tie phrase (``tie``, ``equally good``, ...);
    5. the only letter named as ``Answer X`` / ``Response X`` (when both are named: no verdict).
    """
    if not isinstance(text, str):
        return Verdict(None)
    graded = {_graded(m) for m in _GRADED.finditer(text)}
    graded.discard(None)
    if graded:
        return graded.pop() if len(graded) == 1 else Verdict(None)
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


def _graded(m: "re.Match") -> Optional[Verdict]:
    left, op, right = m.groups()
    if op == "=":
        return Verdict("tie") if left != right else None
    if left == right:
        return None                     # "[[A>A]]" says nothing
    winner = left if op.startswith(">") else right
    return Verdict(winner, None, len(op))


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
    from the top logprobs counts as probability 0. Ties, graded verdicts (their strength says how sure the
    judge is) and unparsed replies give None.
    """
    if not logprobs or verdict.winner not in ("A", "B") or verdict.strength is not None:
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
