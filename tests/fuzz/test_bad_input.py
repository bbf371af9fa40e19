"""Regression tests for what the fuzz found: control characters, data errors, the rule period, bodies that
do not parse, and English left in the answers. Each answer is a refusal in jifen's shape, in Chinese."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from jifen.kit.sql import Sql
from tests.factories import World
from tests.helpers import assert_error
from tests.ledger.helpers import key, make_rule

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def assert_chinese_refusal(response: object, status: int, code: str | None = None) -> dict[str, object]:
    body = assert_error(response, status, code)  # type: ignore[arg-type]
    assert CHINESE.search(str(body["detail"])), body
    return body


@pytest.mark.parametrize("path", ["notices", "awards", "rankings", "stars"])
async def test_a_nul_in_a_grid_query_parameter_is_refused_in_chinese(world: World, path: str) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    params = {"grid": "一组\x00"}
    if path == "awards":
        params["status"] = "pending_review"
    response = await world.call("GET", f"/villages/{setup.village.id}/{path}", admin, params=params)
    assert_chinese_refusal(response, 400, "invalid_characters")


async def test_control_characters_in_a_path_parameter_are_refused(world: World) -> None:
    setup = await world.setup_village()
    response = await world.call(
        "GET",
        "/households/by-code/%00H1",
        setup.people["village_admin"],
        params={"village_id": str(setup.village.id)},
    )
    assert response.status_code in (400, 404), response.text
    assert response.status_code != 500
    assert CHINESE.search(response.json()["detail"]), response.text


@pytest.mark.parametrize("field", ["unit", "category"])
async def test_a_nul_in_an_item_unit_or_category_is_refused(world: World, field: str) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    created = await world.call(
        "POST",
        f"/stores/{setup.store.id}/items",
        admin,
        json={"name": "酱油", "price_points": 10, "stock": 5, field: "瓶\x00"},
    )
    assert_chinese_refusal(created, 400, "invalid_characters")
    item = await world.call(
        "POST",
        f"/stores/{setup.store.id}/items",
        admin,
        json={"name": "酱油", "price_points": 10, "stock": 5},
    )
    assert item.status_code == 201, item.text
    patched = await world.call("PATCH", f"/items/{item.json()['id']}", admin, json={field: "\x00"})
    assert_chinese_refusal(patched, 400, "invalid_characters")
    # a tab or a line break in text is still fine
    ok = await world.call("PATCH", f"/items/{item.json()['id']}", admin, json={field: "瓶"})
    assert ok.status_code == 200, ok.text


async def test_an_escaped_backslash_before_u0000_text_is_not_a_control_character(world: World) -> None:
    setup = await world.setup_village()
    created = await world.call(
        "POST",
        f"/stores/{setup.store.id}/items",
        setup.people["village_admin"],
        content=b'{"name": "a\\\\u0000b", "price_points": 10, "stock": 5}',
        headers={"Content-Type": "application/json"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "a\\u0000b"


async def test_a_nul_in_the_login_form_is_refused(world: World) -> None:
    response = await world.client.post("/api/v1/auth/token", data={"username": "ad\x00min", "password": "x"})
    assert_chinese_refusal(response, 400, "invalid_characters")


async def test_a_rule_patch_ending_before_the_version_starts_is_refused(world: World) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    rule = await make_rule(world, setup, 5, active_from="2026-06-01")
    before = await world.call("PATCH", f"/rules/{rule['id']}", admin, json={"active_until": "2026-05-31"})
    assert_chinese_refusal(before, 400, "invalid_period")
    both = await world.call(
        "PATCH",
        f"/rules/{rule['id']}",
        admin,
        json={"active_from": "2026-07-02", "active_until": "2026-07-01"},
    )
    assert both.status_code in (400, 422), both.text
    assert CHINESE.search(both.json()["detail"]), both.text
    same_day = await world.call("PATCH", f"/rules/{rule['id']}", admin, json={"active_until": "2026-06-01"})
    assert same_day.status_code == 200, same_day.text
    assert same_day.json()["active_until"] == "2026-06-01"


async def test_an_unparseable_json_body_is_a_400_in_the_documented_shape(world: World) -> None:
    setup = await world.setup_village()
    response = await world.call(
        "POST",
        "/awards",
        setup.people["cadre"],
        content=b'{"household_id": ',
        headers={"Content-Type": "application/json", **key()},
    )
    assert_chinese_refusal(response, 400, "invalid_json")
    spec = world.app.openapi()
    operation = spec["paths"]["/api/v1/awards"]["post"]
    assert "400" in operation["responses"]
    assert "invalid_json" in operation["responses"]["400"]["description"]


async def test_an_unparseable_multipart_body_is_a_400(world: World) -> None:
    setup = await world.setup_village()
    response = await world.call(
        "POST",
        f"/villages/{setup.village.id}/photos",
        setup.people["villager"],
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n',
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code in (400, 422), response.text
    assert CHINESE.search(response.json()["detail"]), response.text


async def test_english_validation_messages_are_chinese(world: World) -> None:
    setup = await world.setup_village()
    response = await world.call(
        "POST",
        f"/villages/{setup.village.id}/rules",
        setup.people["village_admin"],
        json={"code": "R1", "name": "x", "category": "y", "points": 0},
    )
    body = assert_chinese_refusal(response, 422, "validation_error")
    assert "must not" not in str(body), body


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/v1/nowhere"), ("DELETE", "/api/v1/auth/token")])
async def test_builtin_404_and_405_answers_are_chinese(world: World, method: str, path: str) -> None:
    response = await world.client.request(method, path)
    assert response.status_code in (404, 405)
    assert CHINESE.search(response.json()["detail"]), response.text


async def test_every_422_is_documented_in_jifen_shape_and_idempotent_calls_declare_key_errors(
    world: World,
) -> None:
    spec = world.app.openapi()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if "422" in responses:
                schema = responses["422"]["content"]["application/json"]["schema"]
                refs = [schema.get("$ref")] + [alt["$ref"] for alt in schema.get("anyOf", [])]
                assert "#/components/schemas/ValidationErrorBody" in refs, (method, path)
            headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            if "Idempotency-Key" in headers:
                assert "idempotency_key_required" in responses["400"]["description"], (method, path)
                assert "idempotency_key_reused" in responses["409"]["description"], (method, path)
    body = spec["components"]["schemas"]["ValidationErrorBody"]
    assert body["properties"]["detail"]["type"] == "string"
    assert "errors" in body["required"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_a_data_error_through_the_driver_is_a_400(world: World) -> None:
    """asyncpg errors raised outside SQLAlchemy (`kit/sql.py` sends a transaction's later statements straight
    to the driver) map like the ORM's."""
    from fastapi import FastAPI
    from httpx import ASGITransport, AsyncClient

    from jifen.app import _install_error_handlers

    app = FastAPI()
    _install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        async with world.app.state.sessionmaker() as session:
            connection = await _on_the_driver(session)
            await connection.value(object, "SELECT $1::text", "a\x00b")

    @app.get("/check")
    async def check() -> None:
        async with world.app.state.sessionmaker() as session:
            connection = await _on_the_driver(session)
            await connection.value(object, "SELECT 1/0")

    @app.get("/range")
    async def out_of_range() -> None:  # refused by asyncpg itself, before PostgreSQL sees it
        async with world.app.state.sessionmaker() as session:
            connection = await _on_the_driver(session)
            await connection.value(object, "SELECT $1::int4", 2**40)

    @app.get("/orm-range")
    async def orm_out_of_range() -> None:
        from sqlalchemy import text

        async with world.app.state.sessionmaker() as session:
            await session.execute(text("SELECT CAST(:v AS int4)"), {"v": 2**40})

    @app.get("/orm-nul")
    async def orm_nul() -> None:
        from sqlalchemy import text

        async with world.app.state.sessionmaker() as session:
            await session.execute(text("SELECT CAST(:v AS text)"), {"v": "a\x00b"})

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://x") as http:
        for path in ("/boom", "/check", "/range", "/orm-range", "/orm-nul"):
            response = await http.get(path)
            assert_chinese_refusal(response, 400, "invalid_value")
    _ = uuid


async def test_a_nul_escape_split_across_body_chunks_is_still_refused(world: World) -> None:
    setup = await world.setup_village()

    async def chunks() -> Any:
        yield b'{"name": "a\\u00'
        yield b'00b", "price_points": 10, "stock": 5}'

    response = await world.call(
        "POST",
        f"/stores/{setup.store.id}/items",
        setup.people["village_admin"],
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert_chinese_refusal(response, 400, "invalid_characters")
    items = await world.call("GET", f"/stores/{setup.store.id}/items", setup.people["village_admin"])
    assert items.json() == [] or items.json().get("items") == [], items.text


async def _on_the_driver(session: Any) -> Sql:
    """`Sql` on a session whose transaction is open, so its next statement goes straight to asyncpg."""
    sql = Sql(session)
    await sql.value(int, "SELECT 1")
    return sql
