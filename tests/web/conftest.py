"""A real server for the browser tests: a fresh database with the demo village, served by `jifen serve` in
its own process, and headless Chromium (Debian's) driven by Playwright."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Playwright, async_playwright

from tests.db import TestCluster
from tests.live import JIFEN, ROOT, free_port, run_jifen, wait_until_serving

CHROMIUM = os.environ.get("JIFEN_TEST_CHROMIUM", "/usr/bin/chromium")


def server_env(cluster: TestCluster, database: str, data_dir: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    return clean | {
        "JIFEN_ENV": "test",
        "JIFEN_DATABASE_URL": cluster.app_url_for(database),
        "JIFEN_MIGRATE_DATABASE_URL": cluster.owner_url_for(database),
        "JIFEN_DATA_DIR": str(data_dir),
        "JIFEN_SECRET_KEY": "browser-test-secret-0123456789abcdef0123",
        "JIFEN_LOG_LEVEL": "WARNING",
        "JIFEN_LOG_REQUESTS": "false",
        "JIFEN_CHAIN_INTERVAL_SECONDS": "0",
    }


@asynccontextmanager
async def serving(template: TestCluster, data_dir: Path, *first: list[str]) -> AsyncIterator[str]:
    """`jifen serve` on a database of its own, after running each `first` command (`jifen demo load` …)
    against it; yields the server's URL."""
    database = await template.create_database()
    env = server_env(template, database, data_dir)
    for command in first:
        done = await run_jifen(*command, env=env, timeout=180)
        assert done.returncode == 0, done.stderr
    port = free_port()
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen(
        [str(JIFEN), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_serving(url, process, data_dir / "server.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        server_log = (data_dir / "server.log").read_text()
        await template.drop_database(database)
    # a page that failed inside the server shows up here even when the browser saw a friendly page
    assert "Traceback" not in server_log, server_log


@pytest.fixture(scope="module")
async def live_server(template: TestCluster, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The demo village, served."""
    async with serving(template, tmp_path_factory.mktemp("live"), ["demo", "load"]) as url:
        yield url


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as p:
        yield p


@pytest.fixture(scope="session")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium package"
    instance = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield instance
    await instance.close()
