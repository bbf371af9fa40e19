"""Managing users from the village admin's pages, and every user's own sign-out and password page, driven
like a browser (see test_admin_pages.py): what a copied cookie can still do after each change."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from tests.factories import PASSWORD, Person, World
from tests.helpers import login
from tests.web.test_admin_pages import CSRF, Browser, browser

ONE_TIME = re.compile(r'<p class="stat"[^>]*>([a-z0-9]+)</p>')


@asynccontextmanager
async def signed_in(app: FastAPI, username: str, password: str) -> AsyncIterator[tuple[Browser, str]]:
    """A browser signed in through /login with this password, and where the sign-in sent it."""
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://jifen.test") as http:
        form = await http.get("/login")
        token = CSRF.search(form.text)
        assert token, form.text
        done = await http.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token.group(1), "next": "/me"},
        )
        assert done.status_code == 303, done.text
        yield Browser(http), done.headers["location"]


async def _copy_of(app: FastAPI, original: Browser) -> AsyncClient:
    """Another device holding a copy of the browser's session cookie."""
    thief = AsyncClient(transport=ASGITransport(app=app), base_url="http://jifen.test")
    thief.cookies.set("jifen_session", original.http.cookies["jifen_session"])
    return thief


async def test_signing_out_ends_a_copied_session_cookie(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    async with browser(app, setup.people["villager"]) as villager:
        await villager.get("/me")
        async with await _copy_of(app, villager) as copy:
            assert (await copy.get("/me")).status_code == 200  # the copy works while signed in

            out = await villager.post("/logout", {})

            assert out.status_code == 303
            assert out.headers["location"] == "/login"
            after = await copy.get("/me")
            assert after.status_code == 303
            assert after.headers["location"].startswith("/login")


async def test_a_disabled_users_open_pages_close_and_sign_in_is_refused(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    cadre: Person = setup.people["cadre"]
    async with browser(app, cadre) as cadre_browser, browser(app, setup.people["village_admin"]) as admin:
        assert (await cadre_browser.get("/staff/households")).status_code == 200
        page = await admin.get("/admin/users")
        assert f'action="/admin/users/{cadre.id}/disable"' in page.text

        refused = await admin.post(f"/admin/users/{cadre.id}/disable", {"reason": ""})
        assert refused.status_code == 422
        assert "请写明停用的原因" in refused.text
        done = await admin.post(f"/admin/users/{cadre.id}/disable", {"reason": "已调离本村"})
        assert done.status_code == 303, done.text
        listed = await admin.get(done.headers["location"])

        assert "已停用" in listed.text
        assert "已调离本村" in listed.text
        closed = await cadre_browser.get("/staff/households")
        assert closed.status_code == 303
        assert closed.headers["location"].startswith("/login")
    assert (await login(world.client, cadre.username)).status_code == 401

    async with browser(app, setup.people["village_admin"]) as admin:
        await admin.get("/admin/users")
        back = await admin.post(f"/admin/users/{cadre.id}/enable", {"reason": ""})
        assert back.status_code == 303, back.text
    assert (await login(world.client, cadre.username)).status_code == 200


async def test_a_reset_password_is_shown_once_and_must_be_replaced_at_sign_in(
    world: World, app: FastAPI
) -> None:
    setup = await world.setup_village()
    clerk: Person = setup.people["clerk"]
    async with browser(app, clerk) as old_session, browser(app, setup.people["village_admin"]) as admin:
        await admin.get("/admin/users")
        shown = await admin.post(f"/admin/users/{clerk.id}/reset-password", {"reason": "忘记密码"})
        assert shown.status_code == 200, shown.text
        assert shown.headers["cache-control"] == "no-store"
        found = ONE_TIME.search(shown.text)
        assert found, shown.text
        one_time = found.group(1)
        assert one_time not in (await admin.get("/admin/users")).text  # shown once only
        closed = await old_session.get("/counter")
        assert closed.status_code == 303
        assert closed.headers["location"].startswith("/login")

    async with signed_in(app, clerk.username, one_time) as (clerk_browser, landed):
        assert landed.startswith("/password")
        blocked = await clerk_browser.get("/counter")
        assert blocked.status_code == 303
        assert blocked.headers["location"].startswith("/password")
        form = await clerk_browser.get(landed)
        assert "管理员已为您重置密码" in form.text

        mismatch = await clerk_browser.post(
            "/password",
            {
                "old_password": one_time,
                "new_password": "clerk-own-pass",
                "new_password_again": "other",
                "next": "/",
            },
        )
        assert mismatch.status_code == 422
        assert "两次输入的新密码不一样" in mismatch.text
        changed = await clerk_browser.post(
            "/password",
            {
                "old_password": one_time,
                "new_password": "clerk-own-pass",
                "new_password_again": "clerk-own-pass",
                "next": "/counter",
            },
        )
        assert changed.status_code == 303, changed.text
        assert changed.headers["location"] == "/counter"
        assert (await clerk_browser.get("/counter")).status_code == 200  # this browser carries on

    assert (await login(world.client, clerk.username, "clerk-own-pass")).status_code == 200


async def test_changing_ones_own_password_ends_the_other_devices(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    async with browser(app, setup.people["villager"]) as phone:
        await phone.get("/password")
        async with await _copy_of(app, phone) as desk:
            wrong = await phone.post(
                "/password",
                {
                    "old_password": "not-it",
                    "new_password": "a-new-pass-1",
                    "new_password_again": "a-new-pass-1",
                },
            )
            assert wrong.status_code == 403
            assert "原密码不正确" in wrong.text
            assert (await desk.get("/me")).status_code == 200

            done = await phone.post(
                "/password",
                {
                    "old_password": PASSWORD,
                    "new_password": "a-new-pass-1",
                    "new_password_again": "a-new-pass-1",
                },
            )

            assert done.status_code == 303
            assert (await phone.get("/me")).status_code == 200
            assert (await desk.get("/me")).status_code == 303


async def test_removing_a_role_and_refusals_show_beside_the_user(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    reviewer: Person = setup.people["reviewer"]
    admin_person: Person = setup.people["village_admin"]
    async with browser(app, admin_person) as admin:
        page = await admin.get("/admin/users")
        assert (
            f'action="/admin/users/{admin_person.id}/disable"' not in page.text
        )  # no buttons against oneself

        removed = await admin.post(
            f"/admin/users/{reviewer.id}/roles/remove", {"role": "reviewer", "reason": "换届"}
        )
        assert removed.status_code == 303, removed.text
        assert "已取消" in (await admin.get(removed.headers["location"])).text
        myself = await admin.post(f"/admin/users/{admin_person.id}/disable", {"reason": "试试"})

    assert myself.status_code == 403
    assert "不能停用自己的账号" in myself.text
    me = await world.call("GET", "/auth/me", reviewer)
    assert me.json()["roles"] == []
