"""/metrics: what an operator scrapes — requests by route template, the pool, the chain's lag, public notices,
jobs, and the ledger's postings — off, open or behind a token."""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr, ValidationError
from sqlalchemy import text

from jifen.app import create_app
from jifen.audit import chain
from jifen.kit.db import raw_connection
from jifen.settings import Settings
from tests.factories import World
from tests.helpers import assert_error
from tests.ledger.helpers import award, make_rule
from tests.metrics.helpers import Scrape, scrape
from tests.store.helpers import fund, make_item, redeem

TOKEN = "scrape-token-0123456789abcdef"
# settings that never reach a database, for what needs none
OFFLINE = Settings(
    env="test",
    database_url="postgresql://jifen_app@127.0.0.1:9/jifen",
    secret_key="test-secret-key-0123456789abcdef0123456789",  # type: ignore[arg-type]
    log_level="WARNING",
    log_requests=False,
    chain_interval_seconds=0,
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@asynccontextmanager
async def serving(settings: Settings, **changes: object) -> AsyncIterator[AsyncClient]:
    """The app with other settings, on the same test database."""
    application = create_app(Settings(**(settings.model_dump() | changes)))
    async with (
        LifespanManager(application),
        AsyncClient(transport=ASGITransport(app=application), base_url="http://jifen.test") as http,
    ):
        yield http


async def test_the_main_series_exist_after_some_traffic(world: World, client: AsyncClient) -> None:
    setup = await world.setup_village(households=2)
    rule = await make_rule(world, setup, 10)
    assert (await award(world, setup.people["cadre"], setup.households[0].id, rule)).status_code == 201
    await world.call("GET", f"/households/{setup.households[0].id}/balance", setup.people["village_admin"])

    metrics = await scrape(client)

    for name in (
        "jifen_http_requests_total",
        "jifen_http_request_duration_seconds_bucket",
        "jifen_db_pool_connections_in_use",
        "jifen_db_pool_waiting",
        "jifen_db_pool_max_connections",
        "jifen_chain_unlinked_records",
        "jifen_chain_oldest_unlinked_age_seconds",
        "jifen_public_notice_awards",
        "jifen_public_notice_overdue_awards",
        "jifen_jobs_total",
        "jifen_job_failures_total",
        "jifen_ledger_transactions_total",
        "jifen_database_up",
    ):
        assert name in metrics.names, name
    assert metrics.value("jifen_database_up") == 1
    # every job and every kind of transaction has its series from the start, so rate() and alerts work
    assert {"notice", "reservations", "expiry", "chain_link", "chain_seal"} <= metrics.labels_of(
        "jifen_jobs_total", "job"
    )
    assert {"award", "deduction", "redemption", "reversal"} <= metrics.labels_of(
        "jifen_ledger_transactions_total", "kind"
    )


async def test_requests_count_by_route_template_and_status_never_by_raw_path(
    world: World, client: AsyncClient
) -> None:
    setup = await world.setup_village(households=3)
    admin = setup.people["village_admin"]
    route = "/api/v1/households/{household_id}"
    before = await scrape(client)

    for household in setup.households:
        assert (await world.call("GET", f"/households/{household.id}", admin)).status_code == 200
    assert (await world.call("GET", f"/households/{uuid.uuid4()}", admin)).status_code == 404
    assert (await client.get("/wp-admin/setup-config.php")).status_code == 404
    assert (await client.get("/static/app.js")).status_code == 200
    after = await scrape(client)

    def count(scraped: Scrape, status: str, path: str = route) -> float:
        return scraped.value("jifen_http_requests_total", method="GET", route=path, status=status)

    assert count(after, "200") - count(before, "200") == 3
    assert count(after, "404") - count(before, "404") == 1
    assert (
        after.value("jifen_http_request_duration_seconds_count", method="GET", route=route)
        - before.value("jifen_http_request_duration_seconds_count", method="GET", route=route)
        == 4
    )
    assert count(after, "404", "unmatched") - count(before, "404", "unmatched") == 1
    assert count(after, "200", "/static/{path}") - count(before, "200", "/static/{path}") == 1
    # no record's id and no scanner's path becomes a label: the series stay few and say nothing of a village
    assert not UUID.search(after.text)
    assert "wp-admin" not in after.text
    assert str(setup.village.code) not in after.text


async def test_awards_and_redemptions_count_once_they_are_committed(
    world: World, client: AsyncClient
) -> None:
    setup = await world.setup_village(households=2)
    cadre, clerk = setup.people["cadre"], setup.people["clerk"]
    household = setup.households[1]
    rule = await make_rule(world, setup, 10)
    soap = await make_item(world, setup, "肥皂", 5, 10)
    await fund(world, setup, household.id, 20)
    before = await scrape(client)

    first = await award(world, cadre, household.id, rule, idempotency_key="award-once")
    replay = await award(world, cadre, household.id, rule, idempotency_key="award-once")
    sale = await redeem(world, clerk, setup.store.id, household.id, [(soap["id"], 2)])
    too_much = await redeem(world, clerk, setup.store.id, household.id, [(soap["id"], 9)])
    after = await scrape(client)

    assert (first.status_code, replay.status_code, sale.status_code) == (201, 201, 201)
    assert_error(too_much, 409)

    def posted(scraped: Scrape, kind: str) -> float:
        return scraped.value("jifen_ledger_transactions_total", kind=kind)

    assert posted(after, "award") - posted(before, "award") == 1  # the replay posted nothing
    assert posted(after, "redemption") - posted(before, "redemption") == 1  # the refused sale neither


async def test_chain_lag_and_public_notices_come_from_the_database(
    world: World, app: FastAPI, client: AsyncClient
) -> None:
    setup = await world.setup_village(households=2)
    admin, cadre = setup.people["village_admin"], setup.people["cadre"]
    rule = await make_rule(world, setup, 10)
    assert (await award(world, cadre, setup.households[0].id, rule)).status_code == 201
    noticed = await world.call("PATCH", f"/villages/{setup.village.id}", admin, json={"notice_days": 3})
    assert noticed.status_code == 200, noticed.text
    for household in setup.households:
        assert (await award(world, cadre, household.id, rule)).json()["status"] == "public_notice"

    waiting = await scrape(client)  # the background loop is off in tests: nothing is linked yet
    async with raw_connection(app.state.engine) as conn:
        linked = await chain.link_all(conn)
    caught_up = await scrape(client)
    async with world.session() as session, session.begin():
        await session.execute(
            text(
                "UPDATE awards SET notice_until = now() - interval '1 minute' WHERE status = 'public_notice'"
            )
        )
    overdue = await scrape(client)

    assert linked > 0
    assert waiting.value("jifen_chain_unlinked_records") == linked
    assert waiting.value("jifen_chain_oldest_unlinked_age_seconds") > 0
    assert caught_up.value("jifen_chain_unlinked_records") == 0
    assert caught_up.value("jifen_chain_oldest_unlinked_age_seconds") == 0
    assert waiting.value("jifen_public_notice_awards") == 2
    assert waiting.value("jifen_public_notice_overdue_awards") == 0
    assert overdue.value("jifen_public_notice_overdue_awards") == 2  # the job that posts them is not running


async def test_the_pool_shows_connections_in_use_and_requests_waiting(settings: Settings) -> None:
    async with serving(settings, db_pool_size=1, db_max_overflow=0) as http:
        engine = http._transport.app.state.engine  # type: ignore[attr-defined]
        idle = await scrape(http)
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            queued = asyncio.create_task(http.get("/readyz"))  # needs the one connection
            await asyncio.sleep(0.3)
            busy = await scrape(http)
        assert (await queued).status_code == 200  # served as soon as the connection came back
        after = await scrape(http)

    assert (idle.value("jifen_db_pool_connections_in_use"), idle.value("jifen_db_pool_waiting")) == (0, 0)
    assert idle.value("jifen_db_pool_max_connections") == 1
    assert (busy.value("jifen_db_pool_connections_in_use"), busy.value("jifen_db_pool_waiting")) == (1, 1)
    assert (after.value("jifen_db_pool_connections_in_use"), after.value("jifen_db_pool_waiting")) == (0, 0)


async def test_a_token_guards_the_metrics_when_configured(settings: Settings) -> None:
    async with serving(settings, metrics="token", metrics_token=TOKEN) as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all-000"})
        user_token = await http.get("/metrics", headers={"Authorization": "Basic " + TOKEN})
        right = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    for refused in (missing, wrong, user_token):
        assert_error(refused, 401, "invalid_metrics_token")
        assert refused.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 200
    assert "jifen_http_requests_total" in right.text


async def test_metrics_are_off_in_prod_unless_configured_and_off_means_not_found() -> None:
    settings = OFFLINE
    async with serving(settings, metrics="off") as http:
        off = await http.get("/metrics")
        assert (await http.get("/healthz")).status_code == 200
    in_prod = settings.model_dump() | {"env": "prod", "secret_key": secrets.token_urlsafe(48)}
    prod = Settings(**in_prod)
    configured = Settings(**(in_prod | {"metrics_token": TOKEN}))

    assert_error(off, 404)
    assert "jifen_" not in off.text
    assert prod.metrics_mode == "off"
    assert configured.metrics_mode == "token"  # a token alone turns them on, behind it
    assert Settings(**settings.model_dump()).metrics_mode == "on"  # dev and test: open, for the developer


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metrics": "token"}, "JIFEN_METRICS_TOKEN"),
        ({"metrics_token": "short"}, "at least 16"),
    ],
)
def test_a_token_mode_without_a_real_token_refuses_to_start(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**(OFFLINE.model_dump() | changes))


async def test_a_scrape_answers_quickly_when_the_database_is_unreachable(settings: Settings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    gone = f"postgresql://jifen_app@127.0.0.1:{port}/jifen"
    async with serving(settings, database_url=gone, chain_interval_seconds=0.05) as http:
        started = asyncio.get_running_loop().time()
        first = await scrape(http)
        elapsed = asyncio.get_running_loop().time() - started
        await asyncio.sleep(0.8)  # the background loop tries its jobs a few times meanwhile
        later = await scrape(http)

    assert elapsed < 5
    assert first.value("jifen_database_up") == 0
    assert "jifen_chain_unlinked_records" not in first.names  # unknown, not a reassuring 0
    failures = later.value("jifen_job_failures_total", job="notice")
    assert failures - first.value("jifen_job_failures_total", job="notice") >= 2
    assert later.value("jifen_jobs_total", job="notice") - first.value("jifen_jobs_total", job="notice") >= 2


def test_a_metrics_token_is_a_secret() -> None:
    configured = Settings(**(OFFLINE.model_dump() | {"metrics_token": TOKEN}))

    assert isinstance(configured.metrics_token, SecretStr)
    assert TOKEN not in repr(configured)
