"""The admin's 消息推送 page (add a webhook, its secret shown once; 立即重试 a dead letter) and the printable
本周积分变动 per grid with masked names; who may open them. Also the events of a 公示 and its objection."""

from __future__ import annotations

from sqlalchemy import text

from jifen.notify.delivery import Policy, deliver_due
from tests.factories import World
from tests.ledger.helpers import award, make_rule
from tests.web.test_admin_pages import browser


async def test_admin_pages_and_the_weekly_notice(world: World) -> None:
    setup = await world.setup_village(households=3)  # grids 一组, 二组, 一组
    admin = setup.people["village_admin"]
    plus, minus = await make_rule(world, setup, 15), await make_rule(world, setup, -5)
    for household in setup.households:
        assert (await award(world, admin, household.id, plus)).status_code == 201
    assert (await award(world, admin, setup.households[2].id, minus)).status_code == 201

    async with browser(world.app, admin) as page:
        assert "没有发送失败的通知" in (await page.get("/admin/notify")).text
        made = await page.post("/admin/notify/webhooks", {"name": "村务群", "url": "http://127.0.0.1:9/x"})
        assert made.status_code == 200, made.text
        assert "签名密钥只显示这一次" in made.text
        assert "签名密钥只显示这一次" not in (await page.get("/admin/notify")).text
        refused = await page.post("/admin/notify/webhooks", {"name": "坏地址", "url": "不是网址"})
        assert refused.status_code == 422

        # the webhook was added after the awards: a new event reaches it, and its receiver is not there
        assert (await award(world, admin, setup.households[0].id, plus)).status_code == 201
        await deliver_due(world.app.state.sessionmaker, Policy(retry_seconds=(0.0,), max_attempts=1))
        shown = await page.get("/admin/notify")
        assert "立即重试" in shown.text
        assert "加分入账" in shown.text
        async with world.session() as session:
            event_id, channel_id = (
                await session.execute(text("SELECT event_id, channel_id FROM outbox_deliveries"))
            ).one()
        retried = await page.post(
            "/admin/notify/retry", {"event_id": str(event_id), "channel_id": str(channel_id)}
        )
        assert retried.status_code == 303
        assert "没有发送失败的通知" in (await page.get("/admin/notify?done=retried")).text

        weekly = await page.get("/staff/weekly-notice?grid=一组")
        assert weekly.status_code == 200, weekly.text
        assert "户*0" in weekly.text
        assert "户*2" in weekly.text
        assert "户主0" not in weekly.text  # names masked
        assert "户*1" not in weekly.text  # another grid
        assert "本周积分变动" in weekly.text

    for role in ("villager", "clerk", "reviewer"):
        async with browser(world.app, setup.people[role]) as other:
            assert (await other.get("/staff/weekly-notice")).status_code == 403, role
            assert (await other.get("/admin/notify")).status_code == 403, role
    async with browser(world.app, setup.people["cadre"]) as cadre:
        assert (await cadre.get("/staff/weekly-notice")).status_code == 200


async def test_a_public_notice_and_its_objection_are_told(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    changed = await world.call("PATCH", f"/villages/{setup.village.id}", admin, json={"notice_days": 3})
    assert changed.status_code == 200, changed.text
    rule = await make_rule(world, setup, 20)
    placed = await award(world, admin, setup.households[0].id, rule)
    assert placed.json()["status"] == "public_notice"
    award_id = placed.json()["id"]
    villager = setup.people["villager"]
    objected = await world.call(
        "POST", f"/awards/{award_id}/objections", villager, json={"reason": "没有打扫"}
    )
    assert objected.status_code == 201, objected.text
    resolved = await world.call(
        "POST",
        f"/awards/{award_id}/resolve",
        setup.people["reviewer"],
        json={"outcome": "revised", "points": 10, "reason": "部分属实"},
    )
    assert resolved.status_code == 200, resolved.text
    async with world.session() as session:
        rows = (
            await session.execute(text("SELECT kind, payload FROM outbox_events ORDER BY created_at"))
        ).all()
    assert [kind for kind, _ in rows] == ["notice.opened", "objection.resolved"]
    assert (rows[1][1]["outcome"], rows[1][1]["points"]) == ("revised", 10)


async def test_a_switched_off_webhook_is_not_counted_as_waiting(world: World) -> None:
    """「等待发送」 counts what will be sent: a switched-off webhook's deliveries are shown apart, and the
    admin can switch it off and on again from the page."""
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    plus = await make_rule(world, setup, 15)
    async with browser(world.app, admin) as page:
        assert "还没有推送地址" in (await page.get("/admin/notify")).text
        made = await page.post("/admin/notify/webhooks", {"name": "村务群", "url": "http://127.0.0.1:9/x"})
        assert made.status_code == 200, made.text
        assert (await award(world, admin, setup.households[0].id, plus)).status_code == 201
        async with world.session() as session:
            webhook_id = (await session.execute(text("SELECT id FROM notify_channels"))).scalar_one()

        def waiting(html: str) -> str:
            return html.split('等待发送</div><div class="stat">', 1)[1].split("<", 1)[0]

        assert waiting((await page.get("/admin/notify")).text) == "1"
        off = await page.post(f"/admin/notify/webhooks/{webhook_id}/switch", {"enabled": "false"})
        assert off.status_code == 303, off.text
        shown = (await page.get(off.headers["location"])).text
        assert waiting(shown) == "0"
        assert "另有 1 条通知属于已停用的推送地址" in shown
        assert "已停用推送地址" in shown
        # nothing is sent over it while it is off
        await deliver_due(world.app.state.sessionmaker, Policy(retry_seconds=(0.0,), max_attempts=1))
        async with world.session() as session:
            tried = (await session.execute(text("SELECT attempts FROM outbox_deliveries"))).scalar_one()
        assert tried == 0
        on = await page.post(f"/admin/notify/webhooks/{webhook_id}/switch", {"enabled": "true"})
        assert on.status_code == 303
        shown = (await page.get("/admin/notify")).text
        assert waiting(shown) == "1"
        assert "已停用的推送地址" not in shown
        async with world.session() as session:
            changes = (
                await session.execute(
                    text("SELECT count(*) FROM audit_events WHERE action = 'webhook.change'")
                )
            ).scalar_one()
        assert changes == 2
    async with browser(world.app, setup.people["cadre"]) as cadre:
        await cadre.get("/staff/weekly-notice")
        refused = await cadre.post(f"/admin/notify/webhooks/{webhook_id}/switch", {"enabled": "false"})
        assert refused.status_code == 403
