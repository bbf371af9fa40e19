"""The pages villagers, cadres, reviewers, clerks and admins use: server-rendered, Chinese, mobile first.

Every page is an ordinary route on the services: the actor comes from the session cookie through the API's
own access dependencies, the page calls the same service functions in one transaction that commits before
the answer (`kit/db.py PageRoute`), and renders typed models. See docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from jifen.kit.limits import BodyTooLarge
from jifen.web import (
    admin,
    admin_households,
    admin_rules,
    admin_stores,
    admin_users,
    clerk,
    money,
    notify,
    offline,
    routes,
    setup,
    sheets,
    staff,
    town,
    villager,
)
from jifen.web.context import (
    HERE,
    LoginRequired,
    PageRefused,
    PasswordChangeNeeded,
    login_redirect,
    refusal,
    templates,
)

_CHOSEN = "jifen.page_route"


def _segment(path: str) -> str:
    """A path's first segment: `admin` for /admin/rules, `` for /."""
    return path[1:].split("/", 1)[0]


class PageRoutes(BaseRoute):
    """The pages' routes behind one test of the path: a request under the API's prefix skips them all, and
    the pages sit before the API's routes, so a page is not matched against every API operation first
    (0.5 ms a request on this box). Pages and the API share no path, so the order decides nothing else: the
    route a request reaches, a 404 and a 405 are what they were with every route in one list.

    Within the pages, a request is tried only against the routes that can serve its first path segment
    (`segments`: each route's first segments, None for a route whose first segment is a parameter), in
    their order."""

    def __init__(
        self, routes: Sequence[tuple[BaseRoute, frozenset[str] | None]], *, skip_prefix: str
    ) -> None:
        self.routes = [route for route, _ in routes]
        self.skip_prefix = skip_prefix
        known = {segment for _, segments in routes for segment in segments or ()}
        self._anywhere = [route for route, segments in routes if segments is None]
        self._by_segment = {
            segment: [route for route, segments in routes if segments is None or segment in segments]
            for segment in known
        }

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(self.skip_prefix):
            return Match.NONE, {}
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self._by_segment.get(_segment(path), self._anywhere):
            match, child = route.matches(scope)
            if match == Match.FULL:
                return match, {**child, _CHOSEN: route}
            if match == Match.PARTIAL and partial is None:
                partial = (route, child)
        if partial is None:
            return Match.NONE, {}
        return Match.PARTIAL, {**partial[1], _CHOSEN: partial[0]}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope[_CHOSEN].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)


def _segments(router: APIRouter) -> frozenset[str] | None:
    """The first path segments a page module's routes serve; None if one starts with a parameter."""
    found = {_segment(router.prefix + getattr(route, "path", "/{any}")) for route in router.routes}
    return None if any("{" in segment for segment in found) else frozenset(found)


def install(app: FastAPI, *, api_prefix: str) -> None:
    """Mount the pages, their static files and the handlers that turn refusals into pages.

    Call it before the API's routers are included: the pages go into the route list as one `PageRoutes`
    where they were added."""
    # templates are compiled once; only a developer editing them wants each page to look for changes
    templates.env.auto_reload = app.state.settings.env == "dev"
    start = len(app.router.routes)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    admin_pages = (
        admin,
        admin_households,
        admin_users,
        admin_rules,
        admin_stores,
        money,
        town,
        setup,
        notify,
    )
    modules = (routes, villager, staff, offline, clerk, *admin_pages, sheets)
    for module in modules:
        app.include_router(module.router)
    added = app.router.routes[start:]
    segments = [frozenset({"static"}), *(_segments(module.router) for module in modules)]
    assert len(added) == len(segments), "one route per page module and the static files"
    del app.router.routes[start:]
    app.router.routes.append(
        PageRoutes(list(zip(added, segments, strict=True)), skip_prefix=api_prefix + "/")
    )

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(exc.next_path)

    @app.exception_handler(PasswordChangeNeeded)
    async def to_password(request: Request, exc: PasswordChangeNeeded) -> Response:
        return RedirectResponse(f"/password?next={quote(exc.next_path, safe='')}", status_code=303)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> Response:
        """413 as a page for a form, in the API's shape for the API."""
        if request.url.path.startswith("/api/"):
            body = {"error": "too_large", "detail": exc.detail}
            return JSONResponse(body, status_code=413, headers=exc.headers)
        return templates.TemplateResponse(
            request,
            "refused.html",
            {"page": None, "heading": "提交的内容太大", "message": exc.detail},
            status_code=413,
            headers=exc.headers,
        )

    @app.exception_handler(PageRefused)
    async def refused(request: Request, exc: PageRefused) -> Response:
        return refusal(request, exc.status, exc.message)
