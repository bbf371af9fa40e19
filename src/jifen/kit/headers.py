"""Security headers on every answer: a Content-Security-Policy that lets only jifen's own files run
(`script-src 'self'`: no inline script, no event-handler attribute), no framing, no MIME sniffing, a
same-origin referrer, and HSTS when the request came over HTTPS.

A request counts as HTTPS when the server saw TLS (or uvicorn's proxy handling, which trusts a proxy on
127.0.0.1, already said so), or, only with `JIFEN_TRUST_PROXY_HEADERS=true`, when `X-Forwarded-Proto` says
so: a client could send that header itself.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jifen.kit.asgi import HttpMiddleware
from jifen.settings import Settings

# Style attributes stay allowed (the pages use them for layout; they cannot run script); <style> elements
# and style sheets from elsewhere do not.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# The interactive API documentation (dev, or JIFEN_PUBLIC_DOCS) is FastAPI's page: its script is inline and
# its files come from a CDN.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
HSTS = "max-age=31536000; includeSubDomains"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


class SecurityHeadersMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        super().__init__(app)
        self.trust_proxy_headers = settings.trust_proxy_headers

    def _over_https(self, scope: Scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        if self.trust_proxy_headers:
            forwarded = _header(scope, b"x-forwarded-proto").split(",")[0].strip().lower()
            return forwarded == "https"
        return False

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        csp = DOCS_CSP if path.startswith(DOCS_PATHS) else CSP
        extra = [
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]
        if self._over_https(scope):
            extra.append((b"strict-transport-security", HSTS.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
