"""The `jifen` command: db upgrade, serve, admin create, demo load, backup and restore."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.settings import Settings, get_settings

T = TypeVar("T")
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client when it is first imported


def _prepare_database(settings: Settings) -> None:
    """Start the embedded PostgreSQL when no URL is configured and point this process (and children) at it."""
    if settings.database_url:
        return
    from jifen.kit.embedded import resolve_urls

    db = resolve_urls(settings.data_dir)
    settings.database_url = db.app_url
    settings.migrate_database_url = settings.migrate_database_url or db.owner_url
    os.environ["JIFEN_DATABASE_URL"] = db.app_url
    os.environ["JIFEN_MIGRATE_DATABASE_URL"] = settings.migrate_database_url


def _use_metrics_dir(settings: Settings, *, fresh: bool) -> None:
    """Let every process of this server (and `jifen jobs run`) count into one directory, so a scrape answered
    by any worker adds up all of them (prometheus-client's multiprocess mode). `serve` starts it empty;
    `jobs run` joins a directory a server made, and makes none."""
    if settings.metrics_mode == "off":
        return
    directory = Path(os.environ.get(METRICS_DIR_ENV) or settings.data_dir / "metrics")
    if fresh:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stale in directory.glob("*.db"):  # a previous run's samples: its processes are gone
            stale.unlink(missing_ok=True)
    elif not directory.is_dir():
        return
    os.environ[METRICS_DIR_ENV] = str(directory)


def _run_in_session(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[T]], *, owner: bool = False
) -> T:
    from jifen.kit.db import create_engine, create_sessionmaker

    async def main() -> T:
        url = (settings.migrate_database_url or settings.database_url) if owner else settings.database_url
        assert url
        engine = create_engine(url, pool_size=1, max_overflow=0)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@click.group()
def main() -> None:
    """jifen — 村级积分制记账服务 (the points ledger villages run their 积分制 on)."""
    from pydantic import ValidationError

    from jifen.kit.logging import configure_logging

    try:
        settings = get_settings()
    except ValidationError as exc:
        # a configuration jifen must not start with: say what to fix, without a traceback
        for error in exc.errors():
            click.echo(f"error: {error['msg'].removeprefix('Value error, ')}", err=True)
        sys.exit(2)
    configure_logging(json=settings.log_json, level=settings.log_level)


@main.group()
def db() -> None:
    """Database commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest revision; safe to run again."""
    from jifen.kit.migrate import owner_url, upgrade

    settings = get_settings()
    _prepare_database(settings)
    upgrade(owner_url(settings))
    click.echo("database is at the newest revision")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--server",
    type=click.Choice(["granian", "uvicorn"]),
    default="granian",
    show_default=True,
    help="the HTTP server: granian (measured faster, docs/benchmarks.md) or uvicorn",
)
@click.option("--upgrade-db", is_flag=True, help="migrate the database first")
@click.option("--load-demo", is_flag=True, help="load the demo village when the database is empty")
def serve(host: str, port: int, workers: int, server: str, upgrade_db: bool, load_demo: bool) -> None:
    """Serve the API and the web pages."""
    settings = get_settings()
    _use_metrics_dir(settings, fresh=True)  # before anything imports prometheus_client
    if load_demo:
        _refuse_demo_in_prod(settings)
    _prepare_database(settings)
    if upgrade_db:
        from jifen.kit.migrate import owner_url, upgrade

        upgrade(owner_url(settings))
    if load_demo:
        _load_demo(settings, if_empty=True)
    click.echo(f"jifen is serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    if server == "granian":
        _serve_granian(settings, host, port, workers)
        return
    import uvicorn

    uvicorn.run(
        "jifen.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvloop's event loop and httptools' parser (both come with uvicorn[standard]), named so that a
        # missing one fails at start rather than silently serving on the slower pure-Python defaults
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=settings.stop_timeout_seconds,
    )


def _serve_granian(settings: Settings, host: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    from jifen.kit.workers import READY_DIR_ENV, StartedWorkers, fresh_dir

    ready = fresh_dir(settings.data_dir / "workers")  # each worker marks itself there once serving
    os.environ[READY_DIR_ENV] = str(ready)
    # the app behind uvicorn's proxy-headers middleware (FORWARDED_ALLOW_IPS), as uvicorn serves it
    server = Granian(
        "jifen.app:create_served_app",
        factory=True,
        address=host,
        port=port,
        workers=workers,
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,
        log_level=LogLevels.warning,
        log_access=False,
        # a worker that dies (killed, out of memory) is replaced, as uvicorn's supervisor does; its crash-loop
        # guard (a worker dead within 5.5 s of its respawn stops the server) only for workers that never
        # started serving (kit/workers.py)
        respawn_failed_workers=True,
        # told to stop, a worker that has not exited after this long is killed: the server always stops
        workers_kill_timeout=settings.stop_timeout_seconds,
    )
    server.respawned_wrks = StartedWorkers(server.wrks, ready)
    server.serve()


@main.group()
def admin() -> None:
    """Administrator accounts."""


@admin.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--display-name", default=None)
def admin_create(username: str, password: str, display_name: str | None) -> None:
    """Create a town-level administrator; print its id; exit 1 if the name is taken."""
    from pydantic import ValidationError

    from jifen.auth.actor import console_actor
    from jifen.kit.errors import JifenError
    from jifen.models import Role
    from jifen.users.schemas import RoleGrantIn, UserCreate
    from jifen.users.service import add_user

    try:
        body = UserCreate(
            username=username,
            password=password,
            display_name=display_name or username,
            roles=[RoleGrantIn(role=Role.town_admin)],
        )
    except ValidationError as exc:
        click.echo(f"error: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", err=True)
        sys.exit(1)
    settings = get_settings()
    _prepare_database(settings)
    console = console_actor()

    async def work(session: AsyncSession) -> str:
        user = await add_user(session, console, body)
        return str(user.id)

    try:
        click.echo(_run_in_session(settings, work))
    except JifenError as exc:
        click.echo(f"error: {exc.code}: {exc.detail}", err=True)
        sys.exit(1)


@main.group()
def demo() -> None:
    """The demo village."""


@demo.command("load")
@click.option("--if-empty/--always", default=True, show_default=True)
def demo_load(if_empty: bool) -> None:
    """Load the demo village (by default only into an empty database) and print the demo logins."""
    settings = get_settings()
    _refuse_demo_in_prod(settings)
    _prepare_database(settings)
    _load_demo(settings, if_empty=if_empty)


def _refuse_demo_in_prod(settings: Settings) -> None:
    """The demo's users share a printed password: a production database must never get them."""
    if settings.env == "prod":
        click.echo(
            "error: the demo village (its logins share a published password) is refused with"
            " JIFEN_ENV=prod; create real villages with `jifen admin create` and the pages instead",
            err=True,
        )
        sys.exit(1)


def _load_demo(settings: Settings, *, if_empty: bool) -> None:
    from jifen.demo import DEMO_LOGINS, DEMO_PASSWORD, is_empty, load_demo

    async def work(session: AsyncSession) -> bool:
        if if_empty and not await is_empty(session):
            return False
        await load_demo(session, data_dir=settings.data_dir)
        return True

    loaded = _run_in_session(settings, work)
    if loaded:
        _chain_now(settings)
    click.echo("demo village loaded: 幸福村 (XF)" if loaded else "database already has data; demo not loaded")
    click.echo(f"demo logins (password for all: {DEMO_PASSWORD}):")
    for login in DEMO_LOGINS:
        click.echo(f"  {login.username:<10} {login.role:<14} {login.note}")


def _chain_now(settings: Settings) -> None:
    """Link, roll up and verify what was just written (the background loop's chain job, once)."""
    from jifen.background import chain_now
    from jifen.kit.db import create_engine

    async def main() -> None:
        assert settings.database_url
        engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
        try:
            await chain_now(engine)
        finally:
            await engine.dispose()

    asyncio.run(main())


@main.group()
def jobs() -> None:
    """Due work."""


@jobs.command("run")
def jobs_run() -> None:
    """Run due work now: post awards whose public notice (公示) ended without an open objection; release
    pickup-code reservations (预约兑换) that expired unclaimed; post due clearings (清零); write reminders and
    deliver the outbox's notices (webhooks, SMS)."""
    settings = get_settings()
    _use_metrics_dir(settings, fresh=False)  # a running server's /metrics then counts this run too
    from jifen.background import due_jobs
    from jifen.kit.db import create_engine, create_sessionmaker
    from jifen.kit.jobs import JobsReport, run_jobs

    _prepare_database(settings)

    async def run() -> JobsReport:
        assert settings.database_url
        engine = create_engine(settings.database_url, pool_size=2, max_overflow=0)
        try:
            return await run_jobs(due_jobs(create_sessionmaker(engine)), source="command")
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    click.echo(f"expired reservations released: {report.records.get('reservations', 0)}")
    click.echo(f"expiry transactions posted (清零): {report.records.get('expiry', 0)}")
    click.echo(f"notices delivered (webhooks, SMS): {report.records.get('deliveries', 0)}")
    # the awards' line stays last: scripts read its number
    click.echo(f"awards posted after their public notice: {report.records.get('notice', 0)}")
    if report.failed:
        click.echo(f"error: failed: {', '.join(report.failed)} (the log above says why)", err=True)
        sys.exit(1)


@main.group()
def audit() -> None:
    """The tamper-evident chain."""


async def _chain_scopes(conn: Any, village: str | None) -> list[tuple[str, uuid.UUID]]:
    from jifen.audit.chain import scopes, village_names
    from jifen.audit.service import TOWN_SCOPE

    names = {scope: f"{code} {name}" for scope, (code, name) in (await village_names(conn)).items()}
    names[TOWN_SCOPE] = "镇级记录 (town)"
    chosen = [(names[s], s) for s in await scopes(conn)]
    if village is not None:
        chosen = [(name, s) for name, s in chosen if name.split(" ", 1)[0] == village]
        if not chosen:
            raise click.ClickException(f"no village with code {village}")
    return chosen


def _driver_url(settings: Settings) -> str:
    from jifen.kit.db import normalise_url

    assert settings.database_url
    return normalise_url(settings.database_url).replace("postgresql+asyncpg://", "postgresql://", 1)


@audit.command("verify")
@click.option("--village", default=None, help="a village code; every village when omitted")
@click.option("--digest", default=None, help="a printed checkpoint digest that must be part of the chain")
def audit_verify(village: str | None, digest: str | None) -> None:
    """Re-check the chain: exit 0 and a summary when intact, exit 1 naming the first broken record."""
    import asyncpg

    from jifen.audit.service import verify_scope as verify

    settings = get_settings()
    _prepare_database(settings)
    wanted = bytes.fromhex(digest.replace(" ", "")) if digest else None

    async def run() -> bool:
        conn = await asyncpg.connect(_driver_url(settings))
        intact = True
        found = False
        try:
            for name, scope in await _chain_scopes(conn, village):
                started = time.perf_counter()
                verdict = await verify(conn, scope, wanted)
                seconds = time.perf_counter() - started
                found = found or bool(verdict.digest_found)
                if verdict.ok:
                    click.echo(
                        f"ok      {name}: {verdict.checked} records in {seconds:.2f} s,"
                        f" head {verdict.head or '-'}, {verdict.pending} not yet linked,"
                        f" {verdict.checkpoints} checkpoints, {verdict.accounts_checked} balances reconciled"
                    )
                    continue
                intact = False
                if verdict.first_bad is not None:
                    bad = verdict.first_bad
                    click.echo(
                        f"BROKEN  {name}: first bad record {bad.get('kind')} {bad.get('id')}"
                        f" (chain position {bad.get('seq')}): {bad.get('problem')}"
                    )
                if verdict.first_bad_account is not None:
                    account = verdict.first_bad_account
                    source = "its active holds say" if account["column"] == "held" else "its postings say"
                    click.echo(
                        f"BROKEN  {name}: account {account['account_id']}"
                        f" (household {account['household_code'] or '-'}): {account['column']}"
                        f" {account['found']}, {source} {account['expected']}"
                    )
        finally:
            await conn.close()
        if wanted is not None:
            click.echo("digest is part of the chain" if found else "digest NOT found in the chain")
            intact = intact and found
        return intact

    if not asyncio.run(run()):
        sys.exit(1)


@audit.command("seal")
@click.option("--village", default=None, help="a village code; every village when omitted")
def audit_seal(village: str | None) -> None:
    """Link everything final into the chains and seal a checkpoint; print the digests to publish."""
    import asyncpg

    from jifen.audit.chain import seal

    settings = get_settings()
    _prepare_database(settings)

    async def run() -> None:
        conn = await asyncpg.connect(_driver_url(settings))
        try:
            for name, scope in await _chain_scopes(conn, village):
                checkpoint = await seal(conn, scope, None)
                if checkpoint is None:
                    click.echo(f"{name}: nothing to seal yet")
                else:
                    click.echo(f"{name}: {checkpoint.records} records, checkpoint {checkpoint.digest}")
        finally:
            await conn.close()

    asyncio.run(run())


@main.command("backup")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def backup_command(file: Path) -> None:
    """Write one archive (database dump, photos, manifest) to FILE; the signing key is not included."""
    from jifen.backup.service import backup
    from jifen.kit.errors import JifenError
    from jifen.kit.migrate import owner_url

    settings = get_settings()
    _prepare_database(settings)
    try:
        result = asyncio.run(backup(owner_url(settings), settings.data_dir, file))
    except JifenError as exc:
        click.echo(f"error: {exc.code}: {exc.detail}", err=True)
        sys.exit(1)
    files = result.manifest["files"]
    click.echo(f"备份已写入 {result.path}（{result.size} 字节，{result.seconds:.1f} 秒）")
    click.echo(
        f"  数据库迁移版本 {result.manifest['database']['migration_revision']}，照片 {len(files) - 1} 张"
    )
    for village in result.manifest["villages"]:
        click.echo(
            f"  {village['code']} {village['name']}: 链头 {village['chain_head'] or '-'}"
            f"（第 {village['chain_seq']} 条），{village['counts']['households']} 户，"
            f"{village['counts']['transactions']} 笔交易"
        )
    click.echo("  签名密钥（secret_key）不在备份里：恢复后所有人需要重新登录")


@main.command("restore")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def restore_command(ctx: click.Context, file: Path) -> None:
    """Restore FILE into an empty data directory (embedded) or an empty database (JIFEN_DATABASE_URL), then
    verify the chain, the balances, the grants and every photo; exit 1 naming the first problem."""
    import shutil

    from alembic.script import ScriptDirectory

    from jifen.backup import archive
    from jifen.backup.service import check_photo_store_empty, restore, scratch_directory
    from jifen.kit.errors import JifenError
    from jifen.kit.migrate import alembic_config, owner_url

    settings = get_settings()
    scratch = scratch_directory()
    try:
        # the archive is checked in full before anything is started or written
        unpacked = archive.unpack(file, scratch)
        check_photo_store_empty(settings.data_dir)
        _prepare_database(settings)
        report = asyncio.run(restore(unpacked, owner_url(settings), settings.data_dir))
    except JifenError as exc:
        click.echo(f"error: {exc.code}: {exc.detail}", err=True)
        sys.exit(1)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    manifest = report.manifest
    click.echo(f"已从 {file} 恢复（备份时间 {manifest['created_at']}，jifen {manifest['jifen_version']}）")
    for line in report.lines:
        click.echo(f"  {line}")
    revision = manifest["database"]["migration_revision"]
    head = ScriptDirectory.from_config(alembic_config(owner_url(settings))).get_current_head()
    if revision != head:
        click.echo(f"  数据库迁移版本为 {revision}，本版 jifen 为 {head}：请运行 `jifen db upgrade`")
    click.echo("  签名密钥不在备份里：所有人需要重新登录")
    click.echo("jifen audit verify:")
    # the same check an operator runs: exit 1 when the chain (or the balances) are broken
    ctx.invoke(audit_verify, village=None, digest=None)


if __name__ == "__main__":
    main()


@main.group()
def village() -> None:
    """Villages."""


@village.command("create")
@click.option("--code", required=True, help="the village's code, e.g. XF")
@click.option("--name", required=True, help="the village's name, e.g. 幸福村")
@click.option("--admin", "admin_username", required=True, help="the first village admin's user name")
@click.option("--display-name", default=None, help="the admin's name as shown (default: <village>管理员)")
def village_create(code: str, name: str, admin_username: str, display_name: str | None) -> None:
    """A real (non-demo) village with its first village admin; prints a one-time password, which the admin
    must change at the first sign-in. Exit 1 if the code or the user name is taken."""
    from pydantic import ValidationError

    from jifen.auth.actor import console_actor
    from jifen.kit.errors import JifenError
    from jifen.villages.onboarding import NewVillage, create_village_with_admin
    from jifen.villages.schemas import VillageCreate

    try:
        body = VillageCreate(
            code=code, name=name, admin_username=admin_username, admin_display_name=display_name
        )
    except ValidationError as exc:
        click.echo(f"error: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", err=True)
        sys.exit(1)
    assert body.admin_username is not None
    settings = get_settings()
    _prepare_database(settings)

    async def work(session: AsyncSession) -> NewVillage:
        return await create_village_with_admin(
            session,
            console_actor(),
            code=body.code,
            name=body.name,
            admin_username=body.admin_username or "",
            admin_display_name=body.admin_display_name,
        )

    try:
        created = _run_in_session(settings, work)
    except JifenError as exc:
        click.echo(f"error: {exc.code}: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"village {created.village.code} {created.village.name}: {created.village.id}")
    click.echo(f"village admin: {created.admin.username}")
    click.echo(f"one-time password: {created.one_time_password}")
    click.echo("(shown once; the admin must choose their own password at the first sign-in)")


@main.group("import")
def import_group() -> None:
    """Imports from spreadsheets."""


@import_group.command("households")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--village", "village_code", required=True, help="the village's code")
@click.option("--apply", is_flag=True, help="write the good rows (without it: a dry run that writes nothing)")
@click.option("--columns", default=None, help='column choices as JSON, e.g. \'{"C": "phone", "F": ""}\'')
def import_households_command(file: Path, village_code: str, apply: bool, columns: str | None) -> None:
    """A household roll (.xlsx, or .csv in UTF-8 or GBK): lists the rows to add, change and refuse (row
    number and reason); with --apply writes every good row at once. The same file twice changes nothing."""
    from sqlalchemy import select

    from jifen.auth.actor import console_actor
    from jifen.imports.endpoints import parse_columns
    from jifen.imports.schemas import ImportResult
    from jifen.imports.service import import_households
    from jifen.kit.errors import JifenError, NotFound
    from jifen.models import Village

    settings = get_settings()
    _prepare_database(settings)
    data = file.read_bytes()

    async def work(session: AsyncSession) -> ImportResult:
        found = (await session.execute(select(Village).where(Village.code == village_code))).scalar()
        if found is None:
            raise NotFound(f"找不到编号为 {village_code} 的村")
        return await import_households(
            session,
            console_actor(),
            found,
            data=data,
            file_name=file.name,
            overrides=parse_columns(columns),
            apply=apply,
        )

    try:
        result = _run_in_session(settings, work)
    except JifenError as exc:
        click.echo(f"error: {exc.code}: {exc.detail}", err=True)
        sys.exit(1)
    _print_import(result)


def _print_import(result: Any) -> None:
    for table in result.tables:
        picked = [f"{c.column}={c.label}{'' if c.sure else '?'}" for c in table.columns if c.field]
        understood = ", ".join(picked)
        click.echo(f"sheet {table.sheet} (header on row {table.header_row}, {table.kind}): {understood}")
        if table.missing:
            click.echo(f"  missing columns: {'、'.join(table.missing)} (pick them with --columns)")
    for line in result.add:
        click.echo(f"add     row {line.row:>5}  {line.code}  {line.head_name}  {line.grid or ''}")
    for change in result.change:
        click.echo(f"change  row {change.row:>5}  {change.code}  {'; '.join(change.changes)}")
    for bad in result.refused:
        click.echo(f"refuse  {bad.sheet} row {bad.row:>5}  {bad.code or '-'}  {'; '.join(bad.reasons)}")
    counts = result.counts
    click.echo(
        f"{counts.rows} rows: {counts.add} to add, {counts.change} to change, {counts.unchanged} unchanged,"
        f" {counts.refused} refused"
    )
    click.echo(f"sha256 {result.sha256}")
    if result.applied:
        click.echo("applied: the good rows are written")
    elif counts.add or counts.change:
        click.echo("dry run: nothing written (add --apply to write the good rows)")
    else:
        click.echo("nothing to change")
