"""Read scope on the pages: they read through the same API, so a phone number in full is on the village
admin's household page only, a cadre of another grid is refused a household's page, and the counter shows
the code, the name and the points."""

from __future__ import annotations

from fastapi import FastAPI

from tests.factories import World
from tests.households.test_read_scope import MASKED, PHONE, grids
from tests.web.test_admin_pages import browser


async def test_pages_show_what_each_role_may_read(world: World, app: FastAPI) -> None:
    g = await grids(world)

    async with browser(app, g.people["north_cadre"]) as cadre:
        page = await cadre.get(f"/staff/households/{g.north.id}")
        assert page.status_code == 200, page.text
        assert PHONE not in page.text
        listed = await cadre.get("/staff/households")
        assert "N-001" in listed.text
        assert "S-001" not in listed.text

    async with browser(app, g.people["south_cadre"]) as cadre:
        page = await cadre.get(f"/staff/households/{g.north.id}")
        assert page.status_code == 403, page.text
        assert "该户不在您负责的网格" in page.text
        assert "一组户主" not in page.text

    async with browser(app, g.people["reviewer"]) as reviewer:
        page = await reviewer.get(f"/staff/households/{g.north.id}")
        assert page.status_code == 200, page.text
        assert PHONE not in page.text
        assert MASKED not in page.text  # the staff page lists no members at all

    async with browser(app, g.people["clerk_a"]) as clerk:
        found = await clerk.get("/counter?code=N-001")
        assert found.status_code == 303, found.text
        basket = await clerk.get(found.headers["location"])
        assert basket.status_code == 200, basket.text
        assert "N-001" in basket.text
        assert PHONE not in basket.text
