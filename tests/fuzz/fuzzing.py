"""schemathesis over the committed spec, against the demo village, as each of its roles: the machinery of
`test_schemathesis.py` and `test_schemathesis_admins.py`, which split the roles so that the two halves can
run on two test workers at once.

Every operation of `openapi/openapi.json` gets a bounded number of generated requests per role; each answer
must not be a 5xx, must carry a status code the spec declares for the operation, and must match the
declared schema. The app runs in-process on the test's event loop (an httpx ASGITransport client); the
generation runs in a worker thread, because Hypothesis drives a synchronous test function, and each request
is sent back to the loop. Path parameters are drawn from the demo's real records as well as generated
ones, so requests get past "not found" into the services.

Findings are collected over the whole run and reported together, each with the role and a curl line.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from httpx import AsyncClient, Response
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from jifen.demo import DEMO_PASSWORD, load_demo

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
# examples per operation and role; JIFEN_FUZZ_EXAMPLES raises it for a deeper run by hand
EXAMPLES = int(os.environ.get("JIFEN_FUZZ_EXAMPLES", "4"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BASE_URL = "http://jifen.test"

# the demo's records for each path parameter (a few of each), so generated requests reach the services
KNOWN_IDS = {
    "village_id": "SELECT id FROM villages",
    "household_id": "SELECT id FROM households ORDER BY code LIMIT 5",
    "store_id": "SELECT id FROM stores",
    "award_id": "SELECT id FROM awards ORDER BY created_at DESC LIMIT 8",
    "user_id": "SELECT id FROM users",
    "reservation_id": "SELECT id FROM reservations LIMIT 4",
    "rule_id": "SELECT id FROM rules",
    "inspection_id": "SELECT id FROM inspections LIMIT 4",
    "transaction_id": "SELECT id FROM ledger_transactions ORDER BY created_at DESC LIMIT 8",
    "item_id": "SELECT id FROM items",
    "redemption_id": "SELECT id FROM redemptions LIMIT 4",
    "fund_id": "SELECT id FROM village_funds LIMIT 4",
    "photo_id": "SELECT id FROM photos LIMIT 4",
}


@dataclass
class Finding:
    role: str
    operation: str
    message: str
    curl: str


@dataclass
class RoleSession:
    """A demo user's token, renewed when a fuzzed call ended it."""

    username: str
    token: str
    login: Callable[[str], str | None]

    def renew(self) -> None:
        self.token = self.login(self.username) or self.token


@dataclass
class Tally:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    findings: dict[tuple[str, str, str], Finding] = field(default_factory=dict)


def _request_kwargs(case: schemathesis.Case, headers: dict[str, str]) -> dict[str, Any]:
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    kwargs.pop("cookies", None)
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")
    if kwargs.get("files"):
        # requests sends any value as a part; httpx wants bytes
        kwargs["files"] = [(name, _as_part(value)) for name, value in _items(kwargs["files"])]
    return {
        k: v
        for k, v in kwargs.items()
        if k in ("method", "url", "params", "headers", "json", "data", "files", "content")
    }


def _items(files: Any) -> list[tuple[str, Any]]:
    return list(files.items()) if isinstance(files, dict) else list(files)


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _as_part(value: Any) -> Any:
    if isinstance(value, tuple):
        return (value[0], _as_bytes(value[1]), *value[2:])
    return _as_bytes(value)


# signing out ends the role's token, and a stream of failed sign-ins throttles the address: both run last
LAST = ("POST /api/v1/auth/logout", "POST /api/v1/auth/token")


def _label(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path}"


def _fuzz_operation(
    operation: Any,
    role: str,
    session: RoleSession,
    known: dict[str, list[str]],
    send: Callable[[dict[str, Any]], Response],
    tally: Tally,
) -> None:
    label = _label(operation)
    strategy = operation.as_strategy()
    try:  # invalid input too (wrong types, missing fields), where the operation takes any
        strategy = st.one_of(strategy, operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    except Exception:  # nothing to negate: no parameters and no body
        pass

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, data=st.data())
    def check(case: schemathesis.Case, data: st.DataObject) -> None:
        for name in list(case.path_parameters or {}):
            if known.get(name):
                choice = data.draw(st.sampled_from([*known[name], None]))
                if choice is not None:
                    case.path_parameters[name] = choice
        headers = {"Authorization": f"Bearer {session.token}"}
        # money-moving calls get a fresh valid key most of the time (else the generated one, or none)
        if data.draw(st.integers(0, 4)):
            headers["Idempotency-Key"] = uuid.uuid4().hex
        response = send(_request_kwargs(case, headers))
        tally.requests += 1
        if response.status_code == 401 and label not in LAST:
            session.renew()  # an admin's call may have ended this role's token (a reset, a role removed)
        tally.by_status[response.status_code] = tally.by_status.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, BaseExceptionGroup) as failure:  # each failure is a finding; the run goes on
            message = str(failure).strip()
            first = message.splitlines()[0] if message else type(failure).__name__
            finding_key = (label, str(response.status_code), first)
            if finding_key not in tally.findings:
                tally.findings[finding_key] = Finding(role, label, message[:1500], case.as_curl_command())

    check()


async def _load_demo(app: FastAPI) -> dict[str, list[str]]:
    async with app.state.sessionmaker() as session, session.begin():
        await load_demo(session)
    known: dict[str, list[str]] = {}
    async with app.state.sessionmaker() as session:
        for name, query in KNOWN_IDS.items():
            known[name] = [str(row[0]) for row in (await session.execute(text(query))).all()]
    return known


async def _log_in(client: AsyncClient, username: str) -> str | None:
    response = await client.post("/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    return str(response.json()["access_token"]) if response.status_code == 200 else None


async def fuzz_as(app: FastAPI, fuzz_client: AsyncClient, roles: tuple[str, ...], *, anonymous: bool) -> None:
    """Every operation of the spec as each of `roles` in turn (and, when `anonymous`, signing in without a
    token, once at the end); every finding reported together."""
    known = await _load_demo(app)
    schema = schemathesis.openapi.from_path(SPEC)
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda op: LAST.index(_label(op)) if _label(op) in LAST else -1,
    )
    loop = asyncio.get_running_loop()
    tally = Tally()

    async def request(kwargs: dict[str, Any]) -> Response:
        built = fuzz_client.build_request(**kwargs)
        await built.aread()  # the checks read the request body again (a multipart stream reads once)
        return await fuzz_client.send(built)

    def send(kwargs: dict[str, Any]) -> Response:
        return asyncio.run_coroutine_threadsafe(request(kwargs), loop).result(timeout=60)

    def login(username: str) -> str | None:
        return asyncio.run_coroutine_threadsafe(_log_in(fuzz_client, username), loop).result(timeout=60)

    def run() -> None:
        for role in roles:
            session = RoleSession(role, login(role) or "", login)
            assert session.token, role
            for operation in operations:
                if _label(operation) != LAST[-1]:
                    _fuzz_operation(operation, role, session, known, send, tally)
        if anonymous:  # signing in takes no token: once, after every role is done
            _fuzz_operation(operations[-1], "anonymous", RoleSession("", "", login), known, send, tally)

    started = time.monotonic()
    await asyncio.to_thread(run)
    elapsed = time.monotonic() - started
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(tally.by_status.items()))
    sys.stderr.write(
        f"\nschemathesis: {tally.requests} requests in {elapsed:.1f} s as {', '.join(roles)} ({statuses})\n"
    )
    report = "\n\n".join(f"[{f.role}] {f.operation}\n{f.message}\n{f.curl}" for f in tally.findings.values())
    assert not tally.findings, f"{len(tally.findings)} findings:\n\n{report}"
    assert tally.requests >= len(roles) * 80
