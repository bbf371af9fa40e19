"""Every page, as the person who uses it, against the demo village: server time per page (from the
Server-Timing header) next to a raw-SQL baseline for the villager's first screen, taken in the same run.

Run alone with `python -m bench pages`; `make bench` runs it after the ledger scenarios.

`python -m bench pages --against DIR` compares this code with another checkout's (DIR, with its own .venv: `git
worktree add --detach DIR <commit>` and `make install` there): both serve the demo village at once, each from
its own database on one PostgreSQL, and every page is requested from the two in turn, so that whatever else
the machine does falls on both alike. It prints each page's medians and the median of the pairs' ratios.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from jifen.demo import DEMO_PASSWORD

ROUNDS = int(os.environ.get("BENCH_PAGE_ROUNDS", "20"))
LIMIT_MS = 100.0
# BENCH_PAGES=/town,/me measures just those pages (comma-separated paths; all of them when unset)
ONLY = {p.strip() for p in os.environ.get("BENCH_PAGES", "").split(",") if p.strip()}

PAGES = {
    "villager": ["/me", "/me/history", "/me/store", "/me/report", "/me/card", "/notices", "/rankings"],
    "cadre": ["/staff/households", "/staff/households?q=XF-001", "/staff/inspections"],
    "reviewer": ["/staff/reviews"],
    "clerk": ["/counter", "/counter?code=NOBODY", "/counter/pickup", "/counter/sales"],
    "admin": [
        "/admin",
        "/admin/households",
        "/admin/users",
        "/admin/rules",
        "/admin/stores",
        "/admin/notice-board",
        "/admin/funding",
        "/admin/expiry",
    ],
    "town": ["/town"],
}

# what the villager's first screen needs, as one hand-written query: balance, five entries, the month's rank
_BASELINE = """
WITH me AS (SELECT a.posted, a.held, a.lifetime_earned FROM accounts a WHERE a.village_id = $1 AND a.id = $2),
recent AS (SELECT p.amount, p.balance_after FROM postings p
            WHERE p.village_id = $1 AND p.account_id = $2 ORDER BY p.account_version DESC LIMIT 5)
SELECT (SELECT row(me.*) FROM me), (SELECT array_agg(row(recent.*)) FROM recent),
       (SELECT count(*) FROM accounts a WHERE a.village_id = $1 AND a.kind = 'household'
           AND a.lifetime_earned > (SELECT lifetime_earned FROM me))
"""


def _database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _server_ms(response: httpx.Response) -> float:
    match = re.search(r"app;dur=([0-9.]+)", response.headers.get("server-timing", ""))
    assert match, response.headers
    return float(match.group(1))


async def _login(base: str, username: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=30)
    form = await http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    done = await http.post(
        "/login", data={"csrf_token": token.group(1), "username": username, "password": DEMO_PASSWORD}
    )
    assert done.status_code == 303, done.text
    return http


async def measure(base: str, app_url: str) -> list[tuple[str, str, float, float]]:
    rows: list[tuple[str, str, float, float]] = []
    for username, every in PAGES.items():
        paths = [p for p in every if not ONLY or p in ONLY]
        if not paths:
            continue
        http = await _login(base, username)
        try:
            for path in paths:
                timings = []
                for _ in range(ROUNDS):
                    response = await http.get(path)
                    assert response.status_code in (200, 422), (username, path, response.status_code)
                    timings.append(_server_ms(response))
                timings.sort()
                rows.append(
                    (username, path, statistics.median(timings), timings[int(len(timings) * 0.95) - 1])
                )
        finally:
            await http.aclose()
    return rows


async def baseline(app_url: str) -> float:
    conn = await asyncpg.connect(app_url)
    try:
        row = await conn.fetchrow(
            "SELECT h.village_id, h.id FROM households h WHERE h.code = 'XF-001' LIMIT 1"
        )
        timings = []
        for _ in range(ROUNDS * 5):
            started = time.perf_counter()
            await conn.fetch(_BASELINE, row["village_id"], row["id"])
            timings.append((time.perf_counter() - started) * 1000)
        return statistics.median(timings)
    finally:
        await conn.close()


async def run_pages(owner_url: str, app_url: str, port: int, secret: str) -> None:
    """Load the demo into its own database of the bench's PostgreSQL, serve it, and time every page."""
    owner = await asyncpg.connect(owner_url)
    await owner.execute("DROP DATABASE IF EXISTS jifen_pages")
    await owner.execute("CREATE DATABASE jifen_pages")
    await owner.close()
    demo_owner = _database(owner_url, "jifen_pages")
    demo_app = _database(app_url, "jifen_pages")
    env = {
        **os.environ,
        # not prod: prod marks the session cookie Secure (HTTPS only), and this client speaks plain HTTP
        "JIFEN_ENV": "dev",
        "JIFEN_SECRET_KEY": secret,
        "JIFEN_DATABASE_URL": demo_app,
        "JIFEN_MIGRATE_DATABASE_URL": demo_owner,
        "JIFEN_LOG_LEVEL": "WARNING",
        "JIFEN_LOG_REQUESTS": "false",
    }
    subprocess.run([sys.executable, "-m", "jifen", "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "jifen", "demo", "load"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jifen", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(base + "/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        # the first requests warm imports and the connection pool; they are not measured
        warm = await _login(base, "villager")
        for _ in range(3):
            await warm.get("/me")
        await warm.aclose()
        rows = await measure(base, demo_app)
        sql_ms = await baseline(demo_app)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(
        f"  (i) pages with the demo village, server time over {ROUNDS} requests each (limit {LIMIT_MS:.0f} ms)"
    )
    print(f"      raw-SQL baseline for the villager's first screen: {sql_ms:.2f} ms")
    slow = []
    for username, path, median, p95 in rows:
        ratio = median / sql_ms if sql_ms else float("nan")
        flag = "" if p95 < LIMIT_MS else "  <-- over the limit"
        print(
            f"      {username:<9} {path:<30} median {median:6.1f} ms  p95 {p95:6.1f} ms  ×{ratio:5.1f} SQL{flag}"
        )
        if p95 >= LIMIT_MS:
            slow.append(path)
    print(f"      {len(rows) - len(slow)} of {len(rows)} pages under {LIMIT_MS:.0f} ms at p95", flush=True)


async def _serve(
    python: str, cwd: str, owner_url: str, app_url: str, name: str, port: int, secret: str
) -> Any:
    """A database `name` with the demo village, migrated and loaded by the code in `cwd`, served by it."""
    owner = await asyncpg.connect(owner_url)
    await owner.execute(f"DROP DATABASE IF EXISTS {name}")
    await owner.execute(f"CREATE DATABASE {name}")
    await owner.close()
    env = {
        **os.environ,
        "JIFEN_ENV": "dev",
        "JIFEN_SECRET_KEY": secret,
        "JIFEN_DATABASE_URL": _database(app_url, name),
        "JIFEN_MIGRATE_DATABASE_URL": _database(owner_url, name),
        "JIFEN_LOG_LEVEL": "WARNING",
        "JIFEN_LOG_REQUESTS": "false",
    }
    for step in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run([python, "-m", "jifen", *step], env=env, cwd=cwd, check=True, capture_output=True)
    proc = subprocess.Popen(
        [python, "-m", "jifen", "serve", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return proc
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{cwd} did not start serving")


async def run_paired(owner_url: str, app_url: str, ports: tuple[int, int], against: str, secret: str) -> None:
    """Every page from this code and from `against` in turn, ROUNDS pairs each, after a warm-up."""
    here = str(Path(__file__).resolve().parents[1])
    other = str(Path(against).resolve())
    servers = [
        await _serve(sys.executable, here, owner_url, app_url, "jifen_pages_new", ports[0], secret),
        await _serve(
            f"{other}/.venv/bin/python", other, owner_url, app_url, "jifen_pages_old", ports[1], secret
        ),
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    print(f"  (i) pages, this code against {other}: server time, {ROUNDS} alternating pairs a page")
    print(f"      {'page':<36} {'this':>8} {'other':>8} {'ratio':>6} {'pairs':>6}")
    try:
        for username, every in PAGES.items():
            paths = [p for p in every if not ONLY or p in ONLY]
            if not paths:
                continue
            clients = [await _login(base, username) for base in bases]
            try:
                for path in paths:
                    for client in clients:
                        for _ in range(3):
                            await client.get(path)
                    times: list[list[float]] = [[], []]
                    for round_ in range(ROUNDS):
                        order = (0, 1) if round_ % 2 == 0 else (1, 0)
                        for side in order:
                            response = await clients[side].get(path)
                            assert response.status_code in (200, 422), (username, path, response.status_code)
                            times[side].append(_server_ms(response))
                    new, old = (statistics.median(t) for t in times)
                    pairs = statistics.median(a / b for a, b in zip(times[0], times[1], strict=True))
                    flag = "" if new / old <= 1 / 3 else "  over a third"
                    print(
                        f"      {path:<36} {new:6.1f}ms {old:6.1f}ms {new / old:6.2f} {pairs:6.2f}{flag}",
                        flush=True,
                    )
            finally:
                for client in clients:
                    await client.aclose()
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=30)


def standalone(args: list[str] | None = None) -> None:
    """`python -m bench pages [--against DIR]`: its own embedded PostgreSQL, just the pages."""
    args = args or []
    against = args[args.index("--against") + 1] if "--against" in args else None
    import shutil
    import socket
    import tempfile
    from pathlib import Path

    from jifen.kit.embedded import APP_ROLE, describe, ensure_database, start_embedded

    tmp = Path(tempfile.mkdtemp(prefix="jifen-bench-pages-"))
    server = start_embedded(tmp, cleanup_mode="delete")
    try:
        ensure_database(server)
        db: Any = describe(server)
        owner = f"postgresql://postgres@/jifen?host={db.socket_dir}&port={db.port}"
        app = f"postgresql://{APP_ROLE}@/jifen?host={db.socket_dir}&port={db.port}"
        ports = []
        for _ in range(2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(int(s.getsockname()[1]))
        secret = "bench-pages-secret-" + "0" * 32
        if against:
            asyncio.run(run_paired(owner, app, (ports[0], ports[1]), against, secret))
        else:
            asyncio.run(run_pages(owner, app, ports[0], secret))
    finally:
        server.cleanup()  # type: ignore[attr-defined]
        shutil.rmtree(tmp, ignore_errors=True)
