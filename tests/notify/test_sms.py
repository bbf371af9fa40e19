"""SMS: the Aliyun adapter's signature against the provider's documented example and its answers, and a
household's preferences deciding who gets a message (the villager's 短信通知 page)."""

from __future__ import annotations

import json
import urllib.parse

import httpx
import pytest
from sqlalchemy import text

from jifen.notify import repository
from jifen.notify.channels import AliyunSms, FakeSms, SendFailed, rpc_signature
from jifen.notify.delivery import Policy, deliver_due
from tests.factories import World
from tests.ledger.helpers import award, make_rule
from tests.web.test_admin_pages import browser


def test_the_signature_of_alibaba_clouds_documented_example() -> None:
    # the example of Alibaba Cloud's SMS "签名机制" page (GET, AccessKeySecret "testSecret")
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert rpc_signature("testSecret", "GET", params) == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


async def test_the_aliyun_adapter_posts_a_signed_template_message() -> None:
    seen: list[dict[str, str]] = []
    answers = iter(
        [{"Code": "OK", "Message": "OK"}, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发流控"}]
    )

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(dict(urllib.parse.parse_qsl(request.content.decode())))
        return httpx.Response(200, json=next(answers))

    async with httpx.AsyncClient(transport=httpx.MockTransport(provider)) as client:
        sms = AliyunSms(client, "key-id", "key-secret", "幸福村")
        await sms.send(["13800000000", "13900000000"], "SMS_1", {"name": "王*国", "content": "加 15 分"})
        with pytest.raises(SendFailed, match="触发流控"):
            await sms.send(["13800000000"], "SMS_1", {"name": "王*国"})
    form = seen[0]
    assert form["PhoneNumbers"] == "13800000000,13900000000"
    assert (form["TemplateCode"], form["SignName"], form["Action"]) == ("SMS_1", "幸福村", "SendSms")
    assert json.loads(form["TemplateParam"]) == {"name": "王*国", "content": "加 15 分"}
    signature = form.pop("Signature")
    assert signature == rpc_signature("key-secret", "POST", form)


async def test_only_members_who_allowed_it_get_an_sms(world: World) -> None:
    setup = await world.setup_village(households=2)
    village_id = setup.village.id
    async with world.session() as session, session.begin():
        sms = {"provider": "fake", "template_code": "SMS_T"}
        channel = repository.NewChannel("sms", "短信", "https://dysmsapi.aliyuncs.com/", "s", sms)
        await repository.insert_channel(
            session, village_id, channel, actor_id=setup.people["village_admin"].id
        )
    fake = FakeSms()
    policy = Policy(retry_seconds=(0.0,), max_attempts=3, sms={"fake": fake})
    rule = await make_rule(world, setup, 15)
    admin, own = setup.people["village_admin"], setup.households[0]

    async def award_and_deliver() -> None:
        assert (await award(world, admin, own.id, rule)).status_code == 201
        await deliver_due(world.app.state.sessionmaker, policy)

    await award_and_deliver()
    assert fake.sent == []  # nobody allowed it yet: the delivery is done, and says why nothing was sent
    async with world.session() as session:
        notes = await session.execute(text("SELECT last_error FROM outbox_deliveries"))
        assert {n for (n,) in notes} == {"未发送：该户关闭了短信或成员未同意接收"}

    async with browser(world.app, setup.people["villager"]) as villager:
        page = await villager.get("/me/notify")
        assert page.status_code == 200, page.text
        assert "138****0000" in page.text
        assert "13800000000" not in page.text  # the villager's page shows the phone masked
        async with world.session() as session:
            [member] = await repository.member_phones(session, village_id, own.id)
        saved = await villager.post("/me/notify", {"sms_enabled": "on", "consent": str(member.id)})
        assert saved.status_code == 303
        await award_and_deliver()
        assert fake.sent == [(("13800000000",), "SMS_T", fake.sent[0][2])]
        assert fake.sent[0][2]["content"] == "户*0户：因“门前三包”加 15 分，已入账。"

        fake.fail = 1  # the provider fails once: the retry sends it
        await award_and_deliver()
        await deliver_due(world.app.state.sessionmaker, policy)
        assert len(fake.sent) == 2

        await villager.post("/me/notify", {"consent": str(member.id)})  # SMS off for the household
        await award_and_deliver()
        assert len(fake.sent) == 2
    async with browser(world.app, setup.people["clerk"]) as clerk:
        assert (await clerk.get("/me/notify")).status_code == 403
