"""The cached verdict the admin page shows (GET /villages/{id}/audit/verdict): the newest verification kept
as a mark, plus a check of only what was linked since; a hand-changed balance or record among the new ones
is still named, and a broken verdict stays until a full verification passes again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from jifen.audit import chain
from jifen.settings import Settings
from tests.audit.test_chain import history
from tests.db import _asyncpg_url
from tests.factories import World
from tests.ledger.helpers import award, make_rule


@pytest.fixture
async def connections(settings: Settings) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Connection]]:
    """(the service's own role, the superuser with triggers off: what an attacker with the password has)"""
    assert settings.database_url
    assert settings.migrate_database_url
    service = await asyncpg.connect(_asyncpg_url(settings.database_url))
    owner = await asyncpg.connect(_asyncpg_url(settings.migrate_database_url))
    await owner.execute("SET session_replication_role = replica")
    yield service, owner
    await service.close()
    await owner.close()


async def test_the_verdict_checks_only_what_is_new_and_still_catches_tampering(
    world: World, connections: tuple[asyncpg.Connection, asyncpg.Connection]
) -> None:
    service, owner = connections
    setup = await history(world)
    village = setup.village.id
    admin, cadre = setup.people["village_admin"], setup.people["cadre"]
    path = f"/villages/{village}/audit/verdict"
    assert (await world.call("GET", path, cadre)).status_code == 403

    first_linked = await chain.link(service, village, 10**12)
    first = (await world.call("GET", path, admin)).json()
    # never verified before: verified in full once, and kept as the mark
    assert first["ok"] is True
    assert first["base_full_scan"] is True
    assert first["checked"] == first_linked > 20
    assert first["pending"] == 0

    rule = await make_rule(world, setup, 7)
    for household in setup.households[1:]:
        assert (await award(world, cadre, household.id, rule)).status_code == 201
    new = await chain.link(service, village, 10**12)
    second = (await world.call("GET", path, admin)).json()
    assert second["ok"] is True
    assert second["checked"] == new < first_linked  # only the new records, not the history
    assert second["verified_since_seq"] == first_linked
    assert second["base_full_scan"] is True  # it built on the full verification
    assert second["last_full_verification_at"] == first["base_verified_at"]

    again = (await world.call("GET", path, admin)).json()
    assert (again["ok"], again["checked"], again["verified_since_seq"]) == (True, 0, first_linked + new)
    assert again["base_full_scan"] is False

    # a balance changed by hand, on an account nothing has touched since the mark, is named
    household = setup.households[1]
    await owner.execute(
        "UPDATE accounts SET posted = posted + 50 WHERE village_id = $1 AND household_id = $2",
        village,
        household.id,
    )
    tampered = (await world.call("GET", path, admin)).json()
    assert tampered["ok"] is False
    assert tampered["first_bad_account"]["column"] == "posted"
    assert tampered["first_bad_account"]["found"] - tampered["first_bad_account"]["expected"] == 50
    # the broken verdict stays, even once the balance is put back, until a full verification passes
    await owner.execute(
        "UPDATE accounts SET posted = posted - 50 WHERE village_id = $1 AND household_id = $2",
        village,
        household.id,
    )
    assert (await world.call("GET", path, admin)).json()["ok"] is False
    full = await world.call("GET", "/audit/verify", admin)
    assert full.status_code == 200
    assert full.json()["ok"] is True
    assert (await world.call("GET", path, admin)).json()["ok"] is True

    # a new record changed after it was linked, before anyone verified it, is named
    assert (await award(world, cadre, household.id, rule)).status_code == 201
    await chain.link(service, village, 10**12)
    posting = await owner.fetchrow(
        "SELECT id FROM postings WHERE village_id = $1 ORDER BY chain_id DESC LIMIT 1", village
    )
    await owner.execute("UPDATE postings SET amount = amount + 1 WHERE id = $1", posting["id"])
    broken = (await world.call("GET", path, admin)).json()
    assert broken["ok"] is False
    assert (broken["first_bad"]["kind"], broken["first_bad"]["id"]) == ("posting", str(posting["id"]))
    assert broken["first_bad"]["problem"].startswith("changed")
