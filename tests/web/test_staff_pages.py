"""The staff's and the clerk's form posts run on the services in the page's one transaction: a double tap of
one rendered form (sale, cancellation, inspection sheet) moves points once, a refused or malformed post
moves nothing and says why in Chinese, and the review queue decides through the same checks as the API."""

from __future__ import annotations

import re
import uuid

from tests.factories import World
from tests.ledger.helpers import make_rule
from tests.store.helpers import fund, make_item
from tests.store.test_reservations import points, shelf
from tests.web.test_admin_pages import KEY, Browser, browser


async def _twice(who: Browser, path: str, form: dict[str, str], page: str) -> list[tuple[int, str]]:
    """One rendered form (`page`'s idempotency key) posted twice, as a double tap does."""
    key = KEY.findall((await who.get(page)).text)[0]
    answers = [await who.post(path, {**form, "idempotency_key": key}) for _ in range(2)]
    return [(a.status_code, a.headers.get("location", "")) for a in answers]


async def test_a_double_tapped_sale_and_cancellation_move_points_and_stock_once(world: World) -> None:
    setup = await world.setup_village()
    household = setup.households[0].id
    await fund(world, setup, household, 100)
    soap = await make_item(world, setup, "香皂", 10, 20)

    async with browser(world.app, setup.people["clerk"]) as clerk:
        basket = f"/counter/h/{household}"
        sold = await _twice(clerk, basket, {f"q-{soap['id']}": "2"}, basket)
        assert sold[0] == sold[1], sold
        assert sold[0][0] == 303, sold
        receipt = sold[0][1]
        assert (await points(world, setup, household), await shelf(world, setup)) == (
            (80, 0),
            {"香皂": (18, 0)},
        )
        assert "合计 <strong>20</strong> 分" in (await clerk.get(receipt)).text

        cancel = f"{receipt}/cancel"
        empty = await clerk.post(cancel, {"reason": " ", "idempotency_key": uuid.uuid4().hex})
        assert empty.status_code == 422, empty.text
        assert "请写明撤销的原因" in empty.text, empty.text
        undone = await _twice(clerk, cancel, {"reason": "拿错了商品"}, receipt)
        assert undone == [(303, f"{receipt}?done=cancelled")] * 2, undone
        again = await clerk.post(cancel, {"reason": "再撤一次", "idempotency_key": uuid.uuid4().hex})
        assert again.status_code == 409, again.text
        assert re.search(r"该笔兑换已于 [0-9: -]+ 取消", again.text), again.text
    assert await points(world, setup, household) == (100, 0)
    assert await shelf(world, setup) == {"香皂": (20, 0)}


async def test_awards_inspection_sheets_and_reviews_from_the_staff_pages(world: World) -> None:
    setup = await world.setup_village(households=2, grids=("一组",))
    first, second = (h.id for h in setup.households)
    clean = await make_rule(world, setup, 5)
    reviewed = await make_rule(world, setup, 7, review="single")

    async with browser(world.app, setup.people["cadre"]) as cadre:
        award = f"/staff/households/{first}/award"
        key = KEY.findall((await cadre.get(f"/staff/households/{first}")).text)[0]
        bad = await cadre.post(
            award, {"rule_id": clean["id"], "quantity": "两次", "note": "分类好", "idempotency_key": key}
        )
        assert bad.status_code == 422, bad.text
        assert "次数请填 1 到 1000 的整数" in bad.text, bad.text
        assert "分类好" in bad.text  # what was typed stays
        sent = await cadre.post(award, {"rule_id": reviewed["id"], "quantity": "1", "idempotency_key": key})
        assert sent.headers["location"].endswith("?done=pending_review"), sent.text

        today = (await cadre.get("/staff/inspections")).text
        inspected_on = re.findall(r'name="inspected_on" type="date" value="([^"]+)"', today)[0]
        form = {"grid": "一组", "inspected_on": inspected_on, "judges": "张三、李四", "rule_ids": clean["id"]}
        opened = await cadre.post("/staff/inspections", form)
        assert opened.status_code == 303, opened.text
        sheet = opened.headers["location"]
        cells = {f"s-{h}-{clean['id']}": "1" for h in (first, second)}
        submitted = await _twice(cadre, sheet, cells, sheet)
        assert submitted == [(303, f"{sheet}?done=1")] * 2, submitted
        late = await cadre.post(sheet, {**cells, "idempotency_key": uuid.uuid4().hex})
        assert late.status_code == 409, late.text
        assert "这张检查表已经提交过" in late.text, late.text
    assert [await points(world, setup, h) for h in (first, second)] == [(5, 0), (5, 0)]

    async with browser(world.app, setup.people["reviewer"]) as reviewer:
        queue = (await reviewer.get("/staff/reviews")).text
        [award_id] = re.findall(r'action="/staff/reviews/([0-9a-f-]+)/approve"', queue)
        refused = await reviewer.post(f"/staff/reviews/{award_id}/reject", {"reason": ""})
        assert refused.status_code == 422, refused.text
        assert "驳回时请写明理由" in refused.text, refused.text
        approved = await reviewer.post(f"/staff/reviews/{award_id}/approve", {})
        assert approved.headers["location"] == "/staff/reviews?done=approve", approved.text
        twice = await reviewer.post(f"/staff/reviews/{award_id}/approve", {})
        assert twice.status_code == 409, twice.text
    assert await points(world, setup, first) == (12, 0)
