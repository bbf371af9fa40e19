"""The set-up pages, driven like a browser: the town admin opens a village with its admin (the one-time
password shown once), the village admin uploads the sample roll, sees how the columns were understood and the
bad rows, picks a column the file left unclear, confirms once, and the checklist says what is left."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import text

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import World
from tests.web.test_admin_pages import CSRF, browser

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "samples" / "roll-500.xlsx"
SHA = re.compile(r'name="sha256" value="([0-9a-f]{64})"')


async def _households(app: FastAPI, village_id: object) -> int:
    async with app.state.sessionmaker() as session:
        query = text("SELECT count(*) FROM households WHERE village_id = :v")
        return int((await session.execute(query, {"v": village_id})).scalar_one())


async def test_the_town_admin_opens_a_village_with_its_admin(world: World, app: FastAPI) -> None:
    town = await world.town_admin()
    async with browser(app, town) as page:
        form = await page.get("/town/setup")
        created = await page.post(
            "/town/setup", {"code": "XFNEW", "name": "幸福新村", "admin_username": "xfnew-admin"}
        )
        again = await page.post(
            "/town/setup", {"code": "XFNEW", "name": "幸福新村", "admin_username": "xfnew-admin2"}
        )
        overview = await page.get("/town")

    assert form.status_code == 200, form.text
    assert created.status_code == 200, created.text
    password = re.search(r'id="one-time-password">([a-z0-9]+)<', created.text)
    assert password, created.text
    assert "密码只显示这一次" in created.text
    assert again.status_code == 409
    assert "村编号 XFNEW 已被使用" in again.text
    assert "幸福新村" in overview.text
    assert 'href="/town/setup"' in overview.text
    token = await world.client.post(
        "/api/v1/auth/token", data={"username": "xfnew-admin", "password": password.group(1)}
    )
    assert token.json()["must_change_password"] is True


async def test_the_village_admin_previews_picks_and_imports_the_roll_once(world: World, app: FastAPI) -> None:
    village = await world.village()
    admin = await world.person(RoleGrantIn(role=Role.village_admin, village_id=village.id))
    async with browser(app, admin) as page:
        home = await page.get("/admin")
        start = await page.get("/admin/import")
        template = await page.http.get("/admin/import/template.xlsx")
        preview = await page.http.post(
            "/admin/import",
            data={"csrf_token": page.csrf},
            files={"file": ("roll-500.xlsx", SAMPLE.read_bytes())},
        )
        written_by_preview = await _households(app, village.id)
        sha = SHA.search(preview.text)
        assert sha, preview.text[:2000]
        csrf = CSRF.search(preview.text)
        assert csrf
        confirmed = await page.http.post(
            "/admin/import/apply",
            data={"csrf_token": csrf.group(1), "sha256": sha.group(1), "file_name": "roll-500.xlsx"},
        )
        done = await page.get(confirmed.headers.get("location", "/admin/import"))
        replay = await page.http.post(
            "/admin/import/apply",
            data={"csrf_token": csrf.group(1), "sha256": sha.group(1), "file_name": "roll-500.xlsx"},
        )

    assert home.status_code == 200
    assert "开通清单" in home.text
    assert "导入花名册" in home.text
    assert start.status_code == 200
    assert "下载花名册模板" in start.text
    assert template.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert preview.status_code == 200, preview.text[:2000]
    assert "新增 499 户" in preview.text
    assert "缺少户号" in preview.text
    assert "户号 XF-0123 在文件中出现了不止一次" in preview.text
    assert "确认导入：新增 499 户，修改 0 户" in preview.text
    assert written_by_preview == 0
    assert confirmed.status_code == 303, confirmed.text[:2000]
    assert "花名册已导入：新增 499 户，修改 0 户" in done.text
    assert await _households(app, village.id) == 499
    assert replay.status_code == 404  # the file went with its import: nothing to apply twice
    assert "已经导入" in replay.text


async def test_an_unclear_column_is_picked_on_the_page(world: World, app: FastAPI) -> None:
    village = await world.village()
    admin = await world.person(RoleGrantIn(role=Role.village_admin, village_id=village.id))
    data = "户号,名称,住址\nC-1,钱一,一组1号\nC-2,钱二,一组2号\n".encode("gbk")
    async with browser(app, admin) as page:
        await page.get("/admin/import")
        preview = await page.http.post(
            "/admin/import", data={"csrf_token": page.csrf}, files={"file": ("roll.csv", data)}
        )
        sha = SHA.search(preview.text)
        assert sha, preview.text[:2000]
        csrf = CSRF.search(preview.text)
        assert csrf
        fields = {"csrf_token": csrf.group(1), "sha256": sha.group(1), "file_name": "roll.csv"}
        picked = await page.http.post(
            "/admin/import/columns",
            data=fields | {"col:1:A": "code", "col:1:B": "head_name", "col:1:C": "address"},
        )
        columns = re.search(r'name="columns" value="([^"]*)"', picked.text)
        assert columns
        confirmed = await page.http.post(
            "/admin/import/apply", data=fields | {"columns": columns.group(1).replace("&#34;", '"')}
        )

    assert "还不能导入：请先为“户主”选择对应的列" in preview.text
    assert "确认导入：新增 2 户" in picked.text
    assert confirmed.status_code == 303, confirmed.text[:2000]
    assert await _households(app, village.id) == 2


async def test_the_set_up_pages_are_refused_to_others(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    for role in ("cadre", "clerk", "villager"):
        async with browser(app, setup.people[role]) as page:
            assert (await page.get("/admin/import")).status_code == 403
            assert (await page.get("/town/setup")).status_code == 403
    async with browser(app, setup.people["village_admin"]) as page:
        assert (await page.get("/town/setup")).status_code == 403
