"""`python -m bench roll`: a 20,000-household roll (花名册) previewed and imported, next to a COPY baseline.

A fresh embedded PostgreSQL, an empty village, and jifen's application in this process (the request goes
through routing, authentication, the multipart upload, the parse, the diff against the village's roll and
the writes, without a socket). The roll is one sheet of 20,000 rows (户号, 户主, 人口, 电话, 网格, 住址) with
two merged title rows above the header, as .xlsx, and the same as a GBK CSV. Measured:

- preview: the dry run of the .xlsx (nothing written);
- import: the same file with `?apply=true` (20,000 households, their accounts and head members);
- again: the same file applied a second time (nothing changes);
- the CSV's preview against the now full village (20,000 unchanged rows);
- baseline: the same 20,000 households, accounts and members written with COPY (asyncpg
  `copy_records_to_table`) in one transaction into a second empty village — no parsing, no checks.

Targets (issue 14): preview under 3 s, import under 5 s.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

ROWS = 20_000
PREVIEW_TARGET = 3.0
IMPORT_TARGET = 5.0


def _url(db: object, user: str) -> str:
    return f"postgresql://{user}@/jifen?host={db.socket_dir}&port={db.port}"  # type: ignore[attr-defined]


async def _baseline(owner_url: str, village_id: uuid.UUID, rows: list[object]) -> float:
    connection = await asyncpg.connect(owner_url.replace("postgresql://", "postgres://"))
    try:
        ids = [uuid.uuid4() for _ in rows]
        started = time.perf_counter()
        async with connection.transaction():
            await connection.copy_records_to_table(
                "households",
                columns=["village_id", "id", "code", "head_name", "grid", "address", "population"],
                records=[
                    (village_id, i, h.code, h.head, h.grid, h.address, h.population)  # type: ignore[attr-defined]
                    for i, h in zip(ids, rows, strict=True)
                ],
            )
            await connection.copy_records_to_table(
                "accounts",
                columns=["village_id", "id", "kind", "household_id"],
                records=[(village_id, i, "household", i) for i in ids],
            )
            await connection.copy_records_to_table(
                "members",
                columns=["village_id", "id", "household_id", "name", "phone", "relation"],
                records=[
                    (village_id, uuid.uuid4(), i, h.head, h.phone, "户主")  # type: ignore[attr-defined]
                    for i, h in zip(ids, rows, strict=True)
                ],
            )
        return time.perf_counter() - started
    finally:
        await connection.close()


async def main() -> None:
    from asgi_lifespan import LifespanManager
    from httpx import ASGITransport, AsyncClient

    from jifen.app import create_app
    from jifen.auth.actor import console_actor
    from jifen.auth.tokens import issue_token
    from jifen.imports.samples import households, roll_csv, roll_xlsx
    from jifen.kit.db import create_engine, create_sessionmaker
    from jifen.kit.embedded import APP_ROLE, describe, ensure_database, start_embedded
    from jifen.kit.migrate import upgrade
    from jifen.models import Role
    from jifen.settings import Settings
    from jifen.users.schemas import RoleGrantIn
    from jifen.users.service import create_user
    from jifen.villages.service import create_village

    tmp = Path(tempfile.mkdtemp(prefix="jifen-bench-roll-"))
    server = start_embedded(tmp / "pg", cleanup_mode="delete")
    try:
        ensure_database(server)
        db = describe(server)
        owner_url, app_url = _url(db, "postgres"), _url(db, APP_ROLE)
        await asyncio.to_thread(upgrade, owner_url)
        engine = create_engine(owner_url, pool_size=1, max_overflow=0)
        async with create_sessionmaker(engine)() as session, session.begin():
            actor = console_actor("bench")
            village = await create_village(session, actor, code="ROLL", name="花名册村")
            baseline_village = await create_village(session, actor, code="COPY", name="基线村")
            admin = await create_user(
                session,
                actor,
                username="roll-admin",
                password="bench-password-1",
                display_name="管理员",
                roles=[RoleGrantIn(role=Role.village_admin, village_id=village.id)],
            )
        await engine.dispose()

        rows = households(ROWS, prefix="R")
        xlsx = roll_xlsx(rows, title="花名册村户籍花名册（压测）", members_sheet=False)
        csv = roll_csv(rows)
        settings = Settings(
            env="test",
            database_url=app_url,
            secret_key=uuid.uuid4().hex * 2,  # type: ignore[arg-type]
            log_level="WARNING",
            log_requests=False,
            data_dir=tmp / "data",
        )
        application = create_app(settings)
        token, _ = issue_token(settings, admin.id, admin.credential_version)
        url = f"/api/v1/villages/{village.id}/imports/households"
        async with (
            LifespanManager(application),
            AsyncClient(
                transport=ASGITransport(app=application),
                base_url="http://bench",
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            ) as client,
        ):
            cpu: list[float] = []

            async def timed(data: bytes, name: str, apply: bool) -> tuple[float, dict[str, object]]:
                started, cpu_started = time.perf_counter(), time.process_time()
                response = await client.post(
                    url, params={"apply": "true"} if apply else None, files={"file": (name, data)}
                )
                seconds = time.perf_counter() - started
                cpu.append(time.process_time() - cpu_started)
                assert response.status_code == 200, response.text
                return seconds, response.json()["counts"]

            preview, counts = await timed(xlsx, "roll.xlsx", False)
            assert counts["add"] == ROWS, counts
            imported, counts = await timed(xlsx, "roll.xlsx", True)
            again, counts = await timed(xlsx, "roll.xlsx", True)
            assert counts["unchanged"] == ROWS, counts
            csv_preview, counts = await timed(csv, "roll.csv", False)
            assert counts["unchanged"] == ROWS, counts
        baseline = await _baseline(owner_url, baseline_village.id, rows)  # type: ignore[arg-type]

        load = os.getloadavg()[0]
        print(
            f"roll import — {ROWS:,} households, .xlsx {len(xlsx) / 1e6:.1f} MB, GBK .csv"
            f" {len(csv) / 1e6:.1f} MB; load average {load:.1f} on {os.cpu_count()} cores"
        )
        print("| scenario | jifen (wall) | jifen's Python CPU | COPY baseline | ratio | target |")
        print("| --- | --- | --- | --- | --- | --- |")
        print(
            f"| preview (.xlsx, dry run) | {preview:.2f} s | {cpu[0]:.2f} s | | | < {PREVIEW_TARGET:.0f} s |"
        )
        print(
            f"| import (.xlsx, apply) | {imported:.2f} s | {cpu[1]:.2f} s | {baseline:.2f} s"
            f" | {baseline / imported:.2f} | < {IMPORT_TARGET:.0f} s |"
        )
        print(f"| the same file again (nothing changes) | {again:.2f} s | {cpu[2]:.2f} s | | | |")
        print(
            f"| preview (GBK .csv, 20,000 unchanged) | {csv_preview:.2f} s | {cpu[3]:.2f} s | | |"
            f" < {PREVIEW_TARGET:.0f} s |"
        )
        verdict = "within" if preview < PREVIEW_TARGET and imported < IMPORT_TARGET else "OVER"
        print(f"{verdict} the targets (preview < {PREVIEW_TARGET:.0f} s, import < {IMPORT_TARGET:.0f} s)")
    finally:
        server.cleanup()  # type: ignore[attr-defined]
        shutil.rmtree(tmp, ignore_errors=True)


def run() -> None:
    asyncio.run(main())


if __name__ == "__main__":
    run()
