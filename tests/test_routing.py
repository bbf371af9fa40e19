"""Routing: the pages sit before the API behind one path test (web/__init__.py `PageRoutes`); every page and
every API operation still resolves, and a 404, a 405 and a slash redirect answer as before."""

from __future__ import annotations

import re

from bench.pages import PAGES
from fastapi import FastAPI
from httpx import AsyncClient
from starlette.routing import BaseRoute, Match

from jifen.web import PageRoutes


def _resolve(app: FastAPI, path: str, method: str = "GET") -> tuple[Match, BaseRoute | None]:
    """What the app's router picks for a request, as Starlette's router picks it: the first full match,
    else the first partial one (a path that exists for another method)."""
    scope = {
        "type": "http",
        "path": path,
        "method": method,
        "root_path": "",
        "headers": [],
        "query_string": b"",
    }
    partial: BaseRoute | None = None
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return match, route
        if match == Match.PARTIAL and partial is None:
            partial = route
    return (Match.PARTIAL, partial) if partial is not None else (Match.NONE, None)


async def test_every_page_resolves_to_the_pages(app: FastAPI) -> None:
    paths = {path.split("?")[0] for paths in PAGES.values() for path in paths} | {"/", "/login", "/password"}
    for path in sorted(paths):
        match, route = _resolve(app, path)
        assert match == Match.FULL, path
        assert isinstance(route, PageRoutes), path
    assert _resolve(app, "/static/app.css")[0] == Match.FULL


async def test_every_api_operation_resolves_outside_the_pages(app: FastAPI) -> None:
    operations = app.openapi()["paths"]
    assert len(operations) > 50
    for template, methods in operations.items():
        path = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", template)
        for method in methods:
            match, route = _resolve(app, path, method.upper())
            assert match == Match.FULL, (method, template)
            assert not isinstance(route, PageRoutes), (method, template)


async def test_not_found_and_method_not_allowed_answer_as_before(client: AsyncClient) -> None:
    for path in ("/no-such-page", "/api/v1/no-such-thing", "/api/v1", "/me/no-such-page"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found", path
    for method, path in (
        ("PUT", "/login"),
        ("DELETE", "/me"),
        ("PUT", "/healthz"),
        ("DELETE", "/api/v1/villages"),
    ):
        response = await client.request(method, path)
        assert response.status_code == 405, (method, path)
        assert response.json()["error"] == "method_not_allowed", (method, path)


async def test_pages_api_and_static_still_answer(client: AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    login = await client.get("/login")
    assert login.status_code == 200
    assert "text/html" in login.headers["content-type"]
    me = await client.get("/me")
    assert me.status_code == 303
    assert me.headers["location"].startswith("/login")
    api = await client.get("/api/v1/auth/me")
    assert api.status_code == 401
    assert api.json()["error"] == "not_authenticated"
    assert (await client.get("/static/app.css")).status_code == 200
    # a trailing slash is redirected to the address without it, for a page and for the API
    assert (await client.get("/me/")).status_code == 307
    assert (await client.get("/api/v1/villages/")).status_code == 307
