"""Bearer tokens: the API key of ``/v1`` and the voting token of ``/arena/vote``, compared in constant time.

>>> bearer("Bearer abc"), bearer("bearer  abc "), bearer("Basic abc"), bearer(None)
('abc', 'abc', None, None)
>>> check_token("abc", "abc", what="API key")
>>> check_token(None, "abc", what="API key").status
401
>>> check_token("abd", "abc", what="vote token").status, check_token("abd", "abc", what="API key", wrong_status=401).status
(403, 401)
"""

from __future__ import annotations

import hmac
from typing import Optional

from .errors import APIError

__all__ = ["bearer", "check_token"]


def bearer(header: Optional[str]) -> Optional[str]:
    """The token of an ``Authorization: Bearer TOKEN`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def check_token(given: Optional[str], expected: str, *, what: str, wrong_status: int = 403) -> Optional[APIError]:
    """None when ``given`` is ``expected``; else the error to answer with: 401 when no token came,
    ``wrong_status`` (403, or 401 as OpenAI answers a wrong API key) when it is wrong."""
    if not given:
        return APIError(401, f"this request needs the {what}: send the header 'Authorization: Bearer <{what}>'",
                        type="authentication_error", code="missing_token", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return APIError(wrong_status, f"the {what} sent is wrong; use the one the server was started with",
                        type="authentication_error", code="invalid_token")
    return None
