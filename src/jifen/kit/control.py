"""Control characters are refused at the edge, for every input at once.

PostgreSQL cannot store NUL in text (asyncpg raises `CharacterNotInRepertoireError` before the statement
runs) and the other C0 controls only hide in a printout, so one ASGI middleware refuses them wherever a
client can put them: the path, the query string, and JSON or urlencoded form bodies — as they stream in,
so a 36 MB batch is scanned without being held twice. Tab, line feed and carriage return stay allowed in
bodies (a note may have lines). Multipart bodies (photos) are binary and are left to their own checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from jifen.kit.asgi import HttpMiddleware

CODE = "invalid_characters"
DETAIL = "提交的内容含有不可见的控制字符（如 NUL），请删除后重试"

# a raw control byte anywhere in a path or a decoded query string (DEL included)
_CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f]")
# in a JSON text: a \u0000–\u001f or \u007f escape (tab, line feed, carriage return allowed), unless its
# backslash is itself escaped ("\\u0000" is the text \u0000); a raw control byte makes the JSON invalid
_JSON_ESCAPE = re.compile(rb"\\u00(?:0[0-8bcef]|1[0-9a-f]|7f)", re.IGNORECASE)
# in an urlencoded form: a percent-escaped control (%09, %0A, %0D allowed) or a raw one
_FORM_CONTROL = re.compile(rb"%(?:0[0-8bcefBCEF]|1[0-9a-fA-F]|7[fF])|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# bytes kept from one chunk to the next so an escape split across chunks is still seen
_OVERLAP = 64


class ControlCharacters(HTTPException):
    """400 invalid_characters, rendered by the application's error handler like any other refusal."""

    code = CODE

    def __init__(self) -> None:
        super().__init__(400, DETAIL)


def _json_control(chunk: bytes) -> bool:
    if b"\x00" in chunk:
        return True
    for match in _JSON_ESCAPE.finditer(chunk):
        start = backslash = match.start()
        while backslash > 0 and chunk[backslash - 1] == 0x5C:  # an odd run of backslashes escapes itself
            backslash -= 1
        if (start - backslash) % 2 == 0:
            return True
    return False


def _form_control(chunk: bytes) -> bool:
    return _FORM_CONTROL.search(chunk) is not None


def _body_check(scope: Scope) -> Callable[[bytes], bool] | None:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            if media == b"application/json" or media.endswith(b"+json"):
                return _json_control
            if media == b"application/x-www-form-urlencoded":
                return _form_control
            return None
    return None


def _in_url(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    if _CONTROL_BYTES.search(path.encode("utf-8", "surrogatepass")):
        return True
    query: bytes = scope.get("query_string", b"")
    return bool(query) and bool(_CONTROL_BYTES.search(unquote_to_bytes(query)))


class ControlCharacterMiddleware(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _in_url(scope):
            # refused before routing: a GET never reads a body, so the answer is sent from here
            refusal = JSONResponse({"error": CODE, "detail": DETAIL}, status_code=400)
            await refusal(scope, receive, send)
            return
        found = _body_check(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        tail = b""

        async def scanned_receive() -> Message:
            nonlocal tail
            message = await receive()
            if message["type"] == "http.request":
                chunk = tail + message.get("body", b"")
                if found(chunk):
                    raise ControlCharacters()
                tail = chunk[-_OVERLAP:]
            return message

        await self.app(scope, scanned_receive, send)
