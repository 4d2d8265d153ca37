"""Errors as OpenAI's API shapes them: ``{"error": {"message", "type", "param", "code"}}`` with a 4xx status.

Every route raises :class:`APIError`; FastAPI's own request-validation failures (bad JSON, a missing or
mistyped field) become a 400 whose message names each bad field, so the ``openai`` client shows it.

>>> error_body("max_tokens must be >= 1", param="max_tokens")
{'error': {'message': 'max_tokens must be >= 1', 'type': 'invalid_request_error', 'param': 'max_tokens', 'code': None}}
>>> validation_message([{"loc": ("body", "messages", 0, "role"), "msg": "Input should be 'user'"}])
"body.messages.0.role: Input should be 'user'"
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

__all__ = ["APIError", "error_body", "validation_message", "install_error_handlers"]


class APIError(Exception):
    """An HTTP error with OpenAI's body: ``status`` (4xx), ``message`` (what was wrong and how to fix it),
    ``type`` (``invalid_request_error``, ``authentication_error``, ...), ``param`` (the field), ``code``."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: Optional[str] = None,
                 code: Optional[str] = None, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers


def error_body(message: str, *, type: str = "invalid_request_error", param: Optional[str] = None,
               code: Optional[str] = None) -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def validation_message(errors: Sequence[dict]) -> str:
    """One line per bad field: ``location: what pydantic said``."""
    lines = []
    for err in errors:
        where = ".".join(str(part) for part in err.get("loc", ()))
        msg = err.get("msg", "invalid")
        ctx = err.get("ctx") or {}
        if err.get("type") == "json_invalid" and ctx.get("error"):
            msg = f"the body is not valid JSON ({ctx['error']})"
        lines.append(f"{where}: {msg}" if where else msg)
    return "; ".join(lines)


def install_error_handlers(app: Any) -> None:
    """Route :class:`APIError`, request-validation errors and Starlette's HTTP errors (404, 405) to OpenAI's shape."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    async def api_error(request, exc: APIError):
        return JSONResponse(error_body(exc.message, type=exc.type, param=exc.param, code=exc.code),
                            status_code=exc.status, headers=exc.headers)

    async def invalid_request(request, exc: RequestValidationError):
        errors = exc.errors()
        param = ".".join(str(p) for p in errors[0]["loc"][1:]) if errors and len(errors[0]["loc"]) > 1 else None
        return JSONResponse(error_body(f"invalid request: {validation_message(errors)}", param=param or None),
                            status_code=400)

    async def http_error(request, exc: HTTPException):
        return JSONResponse(error_body(str(exc.detail), type="invalid_request_error"), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    app.add_exception_handler(APIError, api_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
