"""`python -m bench outbox`: what the outbox costs award throughput (issue 16: at most 5%).

Against an embedded PostgreSQL with the demo village (whose SMS channel is enabled, so every award writes
its event and one delivery row), CLIENTS concurrent clients post single awards through the whole app
(`POST /api/v1/awards` in process: auth, idempotency, one `award_submit` call, commit), in alternating
rounds with the outbox write on and off. Off: a bench-only row trigger on `outbox_events` drops the event
(and so its delivery rows) inside `award_submit`, and `outbox.record` in the Python service is a no-op; on,
the same trigger lets the row through, so both rounds pay for the trigger and the difference is the
outbox's own cost. It prints the awards per second of each round, the medians, and the cost of the outbox
as a share of throughput.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from typing import Any

import asyncpg
from httpx import ASGITransport, AsyncClient

from bench.access import on_demo

AWARDS = int(os.environ.get("BENCH_AWARDS", "300"))  # per round
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))


async def _no_outbox(*args: Any, **kwargs: Any) -> None:
    return None


GATE = """
CREATE TABLE bench_outbox_switch (off boolean NOT NULL);
INSERT INTO bench_outbox_switch VALUES (false);
GRANT SELECT ON bench_outbox_switch TO PUBLIC;
CREATE FUNCTION bench_outbox_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT off FROM bench_outbox_switch) THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER bench_outbox_gate BEFORE INSERT ON outbox_events
    FOR EACH ROW EXECUTE FUNCTION bench_outbox_gate();
"""


def _as_owner(app_url: str) -> str:
    """The embedded server's superuser on the same database (the bench's gate is not the service's to set)."""
    place = app_url.split("://", 1)[1].split("@", 1)[1]
    return f"postgresql://postgres@{place}"


async def _bearer(http: AsyncClient, username: str) -> dict[str, str]:
    token = (
        await http.post("/api/v1/auth/token", data={"username": username, "password": "jifen2026"})
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


async def measure(app_url: str) -> None:
    from asgi_lifespan import LifespanManager

    from jifen.app import create_app
    from jifen.outbox import repository as outbox
    from jifen.settings import Settings

    settings = Settings(
        env="test", database_url=app_url, log_level="WARNING", log_requests=False, chain_interval_seconds=0
    )
    app = create_app(settings)
    record = outbox.record
    owner = await asyncpg.connect(_as_owner(app_url))
    await owner.execute(GATE)
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://b") as http,
    ):
        token = (
            await http.post("/api/v1/auth/token", data={"username": "cadre", "password": "jifen2026"})
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        me = (await http.get("/api/v1/auth/me", headers=headers)).json()
        village_id, grid = me["roles"][0]["village_id"], me["roles"][0]["grid"]
        households = (
            await http.get(
                f"/api/v1/villages/{village_id}/households",
                params={"grid": grid, "limit": 50},
                headers=headers,
            )
        ).json()["items"]
        admin = await _bearer(http, "admin")
        # awards that post at once (no public notice) under a rule without a cap, as a plain village runs
        await http.patch(f"/api/v1/villages/{village_id}", json={"notice_days": 0}, headers=admin)
        made = await http.post(
            f"/api/v1/villages/{village_id}/rules",
            json={"code": "BENCH", "name": "门前三包", "category": "人居环境", "points": 5},
            headers=admin,
        )
        rule = made.json()

        spent = {"outbox": 0.0, "requests": 0.0}
        posted = {True: 0, False: 0}
        events_before = await owner.fetchval("SELECT count(*) FROM outbox_events")

        async def timed_record(*args: Any, **kwargs: Any) -> None:
            started = time.perf_counter()
            await record(*args, **kwargs)
            spent["outbox"] += time.perf_counter() - started

        async def client(n: int, offset: int) -> None:
            for i in range(n):
                household = households[(offset + i) % len(households)]
                started = time.perf_counter()
                answer = await http.post(
                    "/api/v1/awards",
                    json={"household_id": household["id"], "rule_id": rule["id"]},
                    headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                )
                assert answer.status_code == 201, answer.text
                if outbox.record is timed_record:
                    spent["requests"] += time.perf_counter() - started

        async def round_(on: bool, n: int) -> float:
            outbox.record = timed_record if on else _no_outbox
            await owner.execute("UPDATE bench_outbox_switch SET off = $1", not on)
            started = time.perf_counter()
            await asyncio.gather(*(client(n // CLIENTS, k * 7) for k in range(CLIENTS)))
            posted[on] += n // CLIENTS * CLIENTS
            return n / (time.perf_counter() - started)

        await round_(True, 100)
        await round_(False, 100)  # warm up both
        spent.update(outbox=0.0, requests=0.0)
        results: dict[bool, list[float]] = {True: [], False: []}
        for r in range(ROUNDS):
            for on in (True, False) if r % 2 == 0 else (False, True):
                results[on].append(await round_(on, AWARDS))
        outbox.record = record
        events = await owner.fetchval("SELECT count(*) FROM outbox_events") - events_before
    await owner.close()
    with_, without = statistics.median(results[True]), statistics.median(results[False])
    print(
        f"award throughput, {CLIENTS} clients, {ROUNDS} rounds x {AWARDS} awards, POST /api/v1/awards in process"
    )
    print(f"  outbox on : {' '.join(f'{x:.0f}' for x in results[True])} awards/s, median {with_:.0f}")
    print(f"  outbox off: {' '.join(f'{x:.0f}' for x in results[False])} awards/s, median {without:.0f}")
    print(f"  cost of the outbox: {(1 - with_ / without) * 100:.1f}% of throughput")
    print(f"  events written: {events} for the {posted[True]} awards posted with the outbox on (off: none)")
    if spent["outbox"]:  # the general path's separate statement (awards the one call does not cover)
        share = spent["outbox"] / spent["requests"]  # both summed over the requests with the outbox on
        print(f"  time inside the outbox write: {share * 100:.1f}% of an award request's time (outbox on)")


def run() -> None:
    on_demo(measure, "outbox")
