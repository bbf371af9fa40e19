"""/metrics of a real `jifen serve --workers 2`, scraped while clients award and redeem in parallel: the
counters move during the load and, summed over both workers, end at exactly what the clients were answered."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jifen.settings import Settings
from tests.factories import VillageSetup, World
from tests.ledger.helpers import make_rule
from tests.live import JIFEN, ROOT, free_port, wait_until_serving
from tests.metrics.helpers import Scrape
from tests.store.helpers import fund, make_item
from tests.test_cli import _env

pytestmark = pytest.mark.live_server

CLIENTS = 6
ROUNDS = 6  # each client: an award, then a sale, ROUNDS times


async def _serve(settings: Settings, data_dir: Path, tmp_path: Path) -> AsyncIterator[str]:
    env = _env(settings, tmp_path) | {
        "JIFEN_DATA_DIR": str(data_dir),
        "JIFEN_SECRET_KEY": settings.signing_key,
        "JIFEN_LOG_REQUESTS": "false",
        "JIFEN_CHAIN_INTERVAL_SECONDS": "0.5",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [str(JIFEN), "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_serving(url, process, tmp_path / "server.log", path="/readyz")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    assert "Traceback" not in (tmp_path / "server.log").read_text()


async def _client(
    url: str, setup: VillageSetup, rule: dict[str, Any], item: dict[str, Any], number: int
) -> list[int]:
    """One counter's worth of work: award a household, sell it a bar of soap, again and again."""
    household = setup.households[number % len(setup.households)]
    statuses = []
    async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=30) as http:
        for _ in range(ROUNDS):
            awarded = await http.post(
                "/awards",
                headers=setup.people["cadre"].headers | {"Idempotency-Key": uuid.uuid4().hex},
                json={"household_id": str(household.id), "rule_id": rule["id"]},
            )
            sold = await http.post(
                "/redemptions",
                headers=setup.people["clerk"].headers | {"Idempotency-Key": uuid.uuid4().hex},
                json={
                    "store_id": str(setup.store.id),
                    "household_id": str(household.id),
                    "lines": [{"item_id": item["id"], "quantity": 1}],
                },
            )
            statuses += [awarded.status_code, sold.status_code]
    return statuses


async def test_scrapes_during_a_parallel_load_see_every_worker_s_counters_move(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    setup = await world.setup_village(households=4)
    rule = await make_rule(world, setup, 5)
    item = await make_item(world, setup, "肥皂", 5, CLIENTS * ROUNDS)
    for household in setup.households:
        await fund(world, setup, household.id, 5)  # enough for the first sale; each award pays the next
    data_dir = tmp_path / "data"
    award_route = {"method": "POST", "route": "/api/v1/awards", "status": "201"}

    server = _serve(settings, data_dir, tmp_path)
    url = await anext(server)
    try:
        async with httpx.AsyncClient(base_url=url) as scraper:

            async def scrape() -> Scrape:
                response = await scraper.get("/metrics")
                assert response.status_code == 200, response.text
                return Scrape(response.text)

            before = await scrape()
            load = asyncio.gather(*(_client(url, setup, rule, item, n) for n in range(CLIENTS)))
            during = []
            while not load.done():
                during.append(await scrape())
                await asyncio.sleep(0.05)
            statuses = [status for client in await load for status in client]
            after = await scrape()
    finally:
        await anext(server, None)

    assert statuses.count(201) == len(statuses) == 2 * CLIENTS * ROUNDS
    awards = [s.value("jifen_http_requests_total", **award_route) for s in (before, *during, after)]
    assert awards == sorted(awards)  # a counter never goes back, whichever worker answered the scrape
    assert any(awards[0] < seen < awards[-1] for seen in awards[1:-1]), awards  # it moved during the load
    assert awards[-1] - awards[0] == CLIENTS * ROUNDS  # both workers' requests, each counted once
    posted = {
        kind: after.value("jifen_ledger_transactions_total", kind=kind)
        - before.value("jifen_ledger_transactions_total", kind=kind)
        for kind in ("award", "redemption")
    }
    assert posted == {"award": CLIENTS * ROUNDS, "redemption": CLIENTS * ROUNDS}
    assert after.value("jifen_jobs_total", job="notice") > before.value("jifen_jobs_total", job="notice")
    defaults = Settings.model_fields
    per_worker = defaults["db_pool_size"].default + defaults["db_max_overflow"].default
    assert after.value("jifen_db_pool_max_connections") == 2 * per_worker
    # both workers wrote their own counters, and the scrape added them up
    pids = {path.name.rsplit("_", 1)[-1] for path in (data_dir / "metrics").glob("counter_*.db")}
    assert len(pids) >= 2, pids
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") is None
