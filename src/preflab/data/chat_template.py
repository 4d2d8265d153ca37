"""Conversational rows to text with the tokenizer's chat template.

For a prompt conversation ``x`` and a response ``y`` (the assistant turn(s) that follow it):

    prompt text     = apply_chat_template(x, add_generation_prompt=True)
    response text   = apply_chat_template(x + y) with the prompt text removed from its front

The template must render the prompt the same whatever follows it, so that the prompt text is a prefix
of the whole; a template that does not (one that rewrites earlier turns, say) cannot split prompt
tokens from response tokens, and each such row is reported. The template carries the BOS token and the
end-of-turn marker, so the tokenizer adds no special tokens to these texts (see ``tokenization``).

>>> class Template:  # stands in for a tokenizer with a ChatML-like template
...     chat_template = "chatml"
...     def apply_chat_template(self, conversations, tokenize, add_generation_prompt):
...         out = ["".join(f"<|{m['role']}|>{m['content']}<|end|>" for m in c) for c in conversations]
...         return [t + "<|assistant|>" * add_generation_prompt for t in out]
>>> prompts, responses, problems = render_conversations(
...     Template(), [[{"role": "user", "content": "2+2?"}]], [[[{"role": "assistant", "content": "4"}]]])
>>> prompts, responses, problems
(['<|user|>2+2?<|end|><|assistant|>'], [['4<|end|>']], [])
"""

from __future__ import annotations

from typing import Any

from .errors import DataError

__all__ = ["render_conversations", "require_chat_template"]


def require_chat_template(tokenizer: Any, source: str) -> None:
    """A DataError unless ``tokenizer`` has a chat template (conversational data needs one)."""
    if not getattr(tokenizer, "chat_template", None) or not hasattr(tokenizer, "apply_chat_template"):
        raise DataError(
            f"{source}: the data is conversational (lists of messages), but the tokenizer "
            f"{getattr(tokenizer, 'name_or_path', '') or type(tokenizer).__name__} has no chat template; "
            "set tokenizer.chat_template (a Jinja string), load the tokenizer of an instruct model, or pass "
            "data in the standard style (strings)"
        )


def render_conversations(
    tokenizer: Any, prompts: list[list[dict]], responses: list[list[list[dict]]]
) -> tuple[list[str], list[list[str]], list[tuple[int, int, str]]]:
    """Prompt texts, response texts, and problems ``(row position, response position, message)``.

    ``prompts[i]`` is a conversation, ``responses[i]`` its K responses (each a list of messages). A row
    with a problem gets empty texts; the caller drops it.
    """
    prompt_texts = _render(tokenizer, prompts, add_generation_prompt=True)
    flat = [p + r for p, rs in zip(prompts, responses) for r in rs]
    full_texts = _render(tokenizer, flat, add_generation_prompt=False)
    out: list[list[str]] = []
    problems: list[tuple[int, int, str]] = []
    pos = 0
    for i, rs in enumerate(responses):
        texts = []
        for k in range(len(rs)):
            full, prompt = full_texts[pos], prompt_texts[i]
            pos += 1
            if isinstance(prompt, Exception) or isinstance(full, Exception):
                problems.append((i, k, f"the chat template fails on this conversation: {prompt if isinstance(prompt, Exception) else full}"))
            elif not full.startswith(prompt):
                problems.append((i, k, _not_a_prefix(prompt, full)))
            else:
                texts.append(full[len(prompt):])
                continue
            texts.append("")
        out.append(texts)
    return [p if isinstance(p, str) else "" for p in prompt_texts], out, problems


def _render(tokenizer: Any, conversations: list[list[dict]], add_generation_prompt: bool) -> list:
    """Texts, one per conversation; an Exception in place of the text of a conversation that fails."""
    if not conversations:
        return []
    try:
        texts = tokenizer.apply_chat_template(conversations, tokenize=False, add_generation_prompt=add_generation_prompt)
        if isinstance(texts, list) and len(texts) == len(conversations) and all(isinstance(t, str) for t in texts):
            return texts
    except Exception:  # noqa: BLE001 - one bad conversation fails the batch; find it below
        pass
    out: list = []
    for c in conversations:
        try:
            text = tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=add_generation_prompt)
            out.append(text if isinstance(text, str) else TypeError(f"apply_chat_template returned {type(text).__name__}"))
        except Exception as err:  # noqa: BLE001 - the template's own message is what the user needs
            out.append(err)
    return out


def _not_a_prefix(prompt: str, full: str) -> str:
    at = next((j for j, (a, b) in enumerate(zip(prompt, full)) if a != b), min(len(prompt), len(full)))
    return (
        "the chat template does not render the prompt as a prefix of prompt + response, so the response "
        f"tokens cannot be separated (they differ at character {at}: prompt {_snippet(prompt, at)}, prompt + "
        f"response {_snippet(full, at)}); use a template that renders earlier turns the same whatever "
        "follows, or pass the data in the standard style (strings)"
    )


def _snippet(text: str, at: int, width: int = 24) -> str:
    lo = max(0, at - width // 2)
    return repr(("..." if lo else "") + text[lo:at + width // 2] + ("..." if at + width // 2 < len(text) else ""))

