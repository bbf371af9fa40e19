"""Back up the demo village while awards are being posted, restore it into a new data directory, serve it,
and find every balance and every chain head as they were at the moment of the backup."""

from __future__ import annotations

import asyncio
import json
import tarfile
import time
import uuid
from pathlib import Path

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from jifen.app import create_app
from jifen.demo import DEMO_PASSWORD
from jifen.kit.embedded import describe, start_embedded
from jifen.settings import Settings
from tests.backup.helpers import driver_url, jifen_env, link_chain, load_demo_village
from tests.helpers import bearer, login
from tests.live import run_jifen

pytestmark = pytest.mark.backup


async def _award_until(
    client: AsyncClient,
    token: str,
    households: list[str],
    rules: list[str],
    done: asyncio.Event,
    acknowledged: list[str],
) -> None:
    """One clerk-like client: award household after household until told to stop."""
    turn = 0
    while not done.is_set() or turn < 3:
        household = households[turn % len(households)]
        rule = rules[turn % len(rules)]
        turn += 1
        response = await client.post(
            "/api/v1/awards",
            json={"household_id": household, "rule_id": rule, "note": "备份期间的评分"},
            headers=bearer(token) | {"Idempotency-Key": str(uuid.uuid4())},
        )
        if response.status_code == 201:
            assert response.json()["status"] == "posted", response.text
            acknowledged.append(response.json()["transaction_id"])
        else:
            assert response.status_code == 409, response.text  # a cap reached is fine, nothing else
        await asyncio.sleep(0.05)


async def test_backup_under_load_restores_every_balance_and_chain_head(
    app: FastAPI, client: AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await load_demo_village(app, settings)
    source = await asyncpg.connect(driver_url(settings.migrate_database_url or ""))
    try:
        households = [str(r["id"]) for r in await source.fetch("SELECT id FROM households ORDER BY code")]
        rules = [
            str(r["id"])
            for r in await source.fetch("SELECT id FROM rules WHERE code IN ('YDLH', 'LJFL', 'ZYFW')")
        ]
        village_id = await source.fetchval("SELECT id FROM villages WHERE code = 'XF'")
    finally:
        await source.close()
    token = (await login(client, "admin", DEMO_PASSWORD)).json()["access_token"]
    # awards post at once (no public notice), so the ledger moves while the backup runs
    changed = await client.patch(
        f"/api/v1/villages/{village_id}", json={"notice_days": 0}, headers=bearer(token)
    )
    assert changed.status_code == 200, changed.text
    source = await asyncpg.connect(driver_url(settings.migrate_database_url or ""))
    try:
        before = await source.fetchval("SELECT count(*) FROM ledger_transactions")
    finally:
        await source.close()

    archive = tmp_path / "jifen.tar"
    done = asyncio.Event()
    acknowledged: list[str] = []
    writers = [
        asyncio.create_task(_award_until(client, token, households[i::4], rules, done, acknowledged))
        for i in range(4)
    ]
    await asyncio.sleep(0.3)
    started = time.perf_counter()
    backed_up = await run_jifen(
        "backup",
        str(archive),
        env=jifen_env(
            settings.data_dir, database_url=settings.database_url, owner_url=settings.migrate_database_url
        ),
    )
    backup_seconds = time.perf_counter() - started
    done.set()
    await asyncio.gather(*writers)
    assert backed_up.returncode == 0, backed_up.stderr
    assert "备份已写入" in backed_up.stdout
    assert "签名密钥" in backed_up.stdout
    await link_chain(settings.database_url)  # the source's chain moves on after the backup

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert names[0] == "database.dump"
    assert names[-2:] == ["manifest.json", "manifest.sha256"]
    assert any(name.startswith("photos/") for name in names)
    assert "secret_key" not in " ".join(names)

    target_dir = tmp_path / "restored"
    started = time.perf_counter()
    restored = await run_jifen("restore", str(archive), env=jifen_env(target_dir))
    restore_seconds = time.perf_counter() - started
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "ok      XF 幸福村" in restored.stdout
    assert "余额与分录一致" in restored.stdout
    print(f"backup under load {backup_seconds:.1f} s, restore and verify {restore_seconds:.1f} s")  # noqa: T201

    server = start_embedded(target_dir, cleanup_mode="delete")
    try:
        db = describe(server)
        restored_settings = Settings(
            env="test",
            database_url=db.app_url,
            migrate_database_url=db.owner_url,
            data_dir=target_dir,
            secret_key="test-secret-key-0123456789abcdef0123456789",  # type: ignore[arg-type]
            log_level="WARNING",
            log_requests=False,
            chain_interval_seconds=0,
        )
        await _compare(settings, restored_settings, manifest, before, acknowledged)
    finally:
        server.cleanup()  # type: ignore[attr-defined]


async def _compare(
    settings: Settings, restored_settings: Settings, manifest: dict, before: int, acknowledged: list[str]
) -> None:
    assert restored_settings.migrate_database_url
    restored_conn = await asyncpg.connect(driver_url(restored_settings.migrate_database_url))
    source = await asyncpg.connect(driver_url(settings.migrate_database_url or ""))
    try:
        kept = [r["id"] for r in await restored_conn.fetch("SELECT id FROM ledger_transactions")]
        # the backup is one moment in the middle of the load: some awards before it, some after
        assert before < len(kept) < before + len(acknowledged), (before, len(kept), len(acknowledged))
        at_backup = {
            str(r["household_id"]): r["posted"]
            for r in await source.fetch(
                """SELECT a.household_id, coalesce(sum(p.amount) FILTER (WHERE p.transaction_id = ANY($1)), 0)
                          AS posted
                     FROM accounts a
                     LEFT JOIN postings p ON p.village_id = a.village_id AND p.account_id = a.id
                    WHERE a.kind = 'household' GROUP BY a.household_id""",
                kept,
            )
        }
        source_links = {
            (str(r["scope"]), r["seq"]): bytes(r["link_hash"]).hex()
            for r in await source.fetch("SELECT scope, seq, link_hash FROM chain_links")
        }
        grants_sql = """SELECT c.relname, a.privilege_type FROM pg_class c
                          JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
                         CROSS JOIN LATERAL aclexplode(c.relacl) a
                         WHERE a.grantee = 'jifen_app'::regrole ORDER BY 1, 2"""
        assert [tuple(r) for r in await restored_conn.fetch(grants_sql)] == [
            tuple(r) for r in await source.fetch(grants_sql)
        ]
    finally:
        await restored_conn.close()
        await source.close()

    app = create_app(restored_settings)
    from asgi_lifespan import LifespanManager

    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://jifen.test") as restored,
    ):
        town = (await login(restored, "town", DEMO_PASSWORD)).json()["access_token"]
        for household_id, posted in at_backup.items():
            balance = await restored.get(f"/api/v1/households/{household_id}/balance", headers=bearer(town))
            assert balance.status_code == 200, balance.text
            assert balance.json()["posted"] == posted, household_id
        for village in manifest["villages"]:
            if village["code"] == "TOWN":
                continue
            verified = await restored.get(
                "/api/v1/audit/verify", params={"village_id": village["scope"]}, headers=bearer(town)
            )
            assert verified.status_code == 200, verified.text
            assert verified.json()["ok"] is True
            assert verified.json()["head"] == village["chain_head"]
            assert village["chain_head"] == source_links[(village["scope"], village["chain_seq"])]
        # the restored install works: the service role may still award (and its grants came back)
        admin = (await login(restored, "admin", DEMO_PASSWORD)).json()["access_token"]
        household = next(iter(at_backup))
        async with app.state.sessionmaker() as session:
            from sqlalchemy import text

            rule = (await session.execute(text("SELECT id FROM rules WHERE code = 'YDLH'"))).scalar_one()
        award = await restored.post(
            "/api/v1/awards",
            json={"household_id": household, "rule_id": str(rule)},
            headers=bearer(admin) | {"Idempotency-Key": str(uuid.uuid4())},
        )
        assert award.status_code == 201, award.text
