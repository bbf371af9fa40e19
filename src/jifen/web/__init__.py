"""The pages villagers, cadres, reviewers, clerks and admins use: server-rendered, Chinese, mobile first.

Every page is an ordinary route on the services: the actor comes from the session cookie through the API's
own access dependencies, the page calls the same service functions in one transaction that commits before
the answer (`kit/db.py PageRoute`), and renders typed models. See docs/architecture.md.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

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


def install(app: FastAPI) -> None:
    """Mount the pages, their static files and the handlers that turn refusals into pages."""
    # templates are compiled once; only a developer editing them wants each page to look for changes
    templates.env.auto_reload = app.state.settings.env == "dev"
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(routes.router)

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
    for module in (villager, staff, offline, clerk, *admin_pages, sheets):
        app.include_router(module.router)

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
