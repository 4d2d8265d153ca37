"""The request bodies of OpenAI's ``/v1/chat/completions`` and ``/v1/completions`` that ``preflab serve`` honours.

Fields a local model cannot honour (``echo``, ``suffix``, ``tools``, a non-zero ``presence_penalty`` /
``frequency_penalty``, ``logit_bias``) are refused with a message rather than silently ignored; fields that
change nothing here (``user``, ``metadata``, ``stream_options`` other than ``include_usage``) are accepted.

>>> ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}], max_completion_tokens=8).token_limit(512)
8
>>> ChatRequest(model="m", messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]).messages[0].text()
'hi'
>>> CompletionRequest(model="m", prompt="Once", stop="\\n").stop_strings()
('\\n',)
"""

from __future__ import annotations

from typing import List, Literal, Optional, Tuple, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["ChatMessage", "ChatRequest", "CompletionRequest", "StreamOptions"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContentPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, List[ContentPart], None] = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)

    def for_template(self) -> dict:
        role = "system" if self.role == "developer" else self.role
        return {"role": role, "content": self.text()}


class StreamOptions(_Lenient):
    include_usage: bool = False


class _Sampling(_Lenient):
    model: str = Field(min_length=1)
    max_tokens: Optional[int] = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1, le=16)
    seed: Optional[int] = None
    stop: Union[str, List[str], None] = None
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: Optional[dict] = None

    @field_validator("stop")
    @classmethod
    def _stop(cls, value):
        stops = [value] if isinstance(value, str) else list(value or [])
        if len(stops) > 4 or any(not s for s in stops):
            raise ValueError("stop takes at most 4 non-empty strings")
        return value

    @model_validator(mode="after")
    def _unsupported(self):
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name):
                raise ValueError(f"{name} is not supported by preflab serve; leave it at 0")
        if self.logit_bias:
            raise ValueError("logit_bias is not supported by preflab serve; leave it out")
        return self

    def stop_strings(self) -> Tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatRequest(_Sampling):
    messages: List[ChatMessage] = Field(min_length=1)
    max_completion_tokens: Optional[int] = Field(default=None, ge=1)
    logprobs: bool = False
    top_logprobs: Optional[int] = Field(default=None, ge=0, le=20)
    tools: Optional[list] = None

    @model_validator(mode="after")
    def _chat_checks(self):
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs=true")
        if self.tools:
            raise ValueError("tools (function calling) are not supported by preflab serve; leave them out")
        return self

    def token_limit(self, default: int) -> int:
        """max_completion_tokens, else max_tokens, else ``default``."""
        return self.max_completion_tokens or self.max_tokens or default


class CompletionRequest(_Sampling):
    prompt: Union[str, List[str]]
    logprobs: Optional[int] = Field(default=None, ge=0, le=5)
    echo: bool = False
    suffix: Optional[str] = None

    @model_validator(mode="after")
    def _completion_checks(self):
        if self.echo:
            raise ValueError("echo is not supported by preflab serve; leave it false")
        if self.suffix:
            raise ValueError("suffix (insertion) is not supported by preflab serve; leave it out")
        if isinstance(self.prompt, list) and not self.prompt:
            raise ValueError("prompt is an empty list; send a string or a list of strings")
        return self

    def prompts(self) -> List[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)
