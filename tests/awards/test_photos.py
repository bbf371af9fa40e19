"""Photo evidence (证据照片): uploads checked by decoding, stored once by content hash, served only within
the village; awards carry photos; a rule that requires evidence refuses an award without one."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from PIL import Image
from sqlalchemy import text

from jifen.settings import Settings
from tests.awards.evidence_helpers import image_bytes, upload, uploaded
from tests.db import _asyncpg_url
from tests.factories import World
from tests.helpers import assert_error
from tests.ledger.helpers import award, balance, key, make_rule

LIMIT = 200_000


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """A fresh data directory per test (what is stored is checked) and a small upload limit."""
    return settings.model_copy(update={"data_dir": tmp_path, "upload_max_bytes": LIMIT})


def stored_files(settings: Settings) -> list[Path]:
    return sorted(p for p in (settings.data_dir / "photos").rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("fmt", "ctype"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
async def test_an_upload_is_checked_stored_once_and_served_to_its_village(
    world: World, settings: Settings, fmt: str, ctype: str
) -> None:
    setup = await world.setup_village()
    villager, cadre = setup.people["villager"], setup.people["cadre"]
    data = image_bytes(fmt, (80, 60))
    sha = hashlib.sha256(data).hexdigest()
    # the name and the declared type do not matter: the bytes are decoded
    first = await upload(world, villager, setup.village.id, data, name="IMG_0001.bin", ctype="text/plain")
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["sha256"], body["content_type"], body["size"]) == (sha, ctype, len(data))
    assert (body["width"], body["height"]) == (80, 60)
    assert set(body) == {"id", "sha256", "content_type", "size", "width", "height", "created_at"}
    again = await upload(world, cadre, setup.village.id, data)
    assert again.status_code == 201
    assert again.json()["id"] != body["id"]
    assert again.json()["sha256"] == sha
    path = settings.data_dir / "photos" / sha[:2] / sha
    assert stored_files(settings) == [path]  # the same bytes are kept once
    assert path.read_bytes() == data

    served = await world.call("GET", f"/photos/{body['id']}", setup.people["reviewer"])
    assert served.status_code == 200
    assert served.content == data
    assert served.headers["content-type"] == ctype
    assert "max-age=31536000" in served.headers["cache-control"]
    assert served.headers["etag"] == f'"{sha}"'
    assert (await world.call("GET", f"/photos/{body['id']}", villager)).status_code == 200
    assert (await world.call("GET", f"/photos/{body['id']}", await world.town_admin())).status_code == 200


async def test_another_villages_user_and_strangers_cannot_see_a_photo(world: World) -> None:
    setup = await world.setup_village()
    photo = await uploaded(world, setup.people["villager"], setup.village.id)
    other = await world.setup_village()
    for person in (other.people["village_admin"], other.people["villager"]):
        assert_error(await world.call("GET", f"/photos/{photo['id']}", person), 404, "not_found")
    assert_error(await world.call("GET", f"/photos/{photo['id']}", None), 401, "not_authenticated")
    missing = "00000000-0000-4000-8000-000000000000"
    assert_error(await world.call("GET", f"/photos/{missing}", setup.people["villager"]), 404, "not_found")
    # nor may they upload into it
    assert_error(await upload(world, other.people["villager"], setup.village.id, image_bytes()), 404)
    assert_error(await upload(world, await world.town_admin(), setup.village.id, image_bytes()), 403)
    assert_error(await upload(world, None, setup.village.id, image_bytes()), 401, "not_authenticated")


async def test_what_is_not_a_whole_jpeg_png_or_webp_is_refused_and_nothing_is_stored(
    world: World, settings: Settings
) -> None:
    setup = await world.setup_village()
    villager = setup.people["villager"]
    png = image_bytes("PNG", (120, 90), noise=True)
    refusals = {
        "a text file named .jpg": (b"this is not a photo\n" * 20, "holiday.jpg", "image/jpeg"),
        "a truncated PNG": (png[: len(png) // 2], "cut.png", "image/png"),
        "a GIF": (image_bytes("GIF"), "anim.gif", "image/gif"),
        "a BMP": (image_bytes("BMP"), "old.bmp", "image/bmp"),
        "nothing": (b"", "empty.png", "image/png"),
    }
    for what, (data, name, ctype) in refusals.items():
        response = await upload(world, villager, setup.village.id, data, name=name, ctype=ctype)
        assert response.status_code == 415, (what, response.text)
        assert_error(response, 415, "unsupported_image")
    assert not (settings.data_dir / "photos").exists() or stored_files(settings) == []
    missing_field = await world.call("POST", f"/villages/{setup.village.id}/photos", villager)
    assert missing_field.status_code == 422


async def test_too_big_is_refused_with_the_limit_named_and_nothing_stored(
    world: World, settings: Settings
) -> None:
    setup = await world.setup_village()
    big = image_bytes("PNG", (300, 300), noise=True)  # ~270 KB, over the 200 KB limit
    assert len(big) > LIMIT
    refused = await upload(world, setup.people["villager"], setup.village.id, big)
    body = assert_error(refused, 413, "too_large")
    assert "195 KB" in body["detail"]
    sha = hashlib.sha256(big).hexdigest()
    assert not (settings.data_dir / "photos" / sha[:2] / sha).exists()
    # just over the limit: refused while it is read, before it is decoded
    just_over = await upload(world, setup.people["villager"], setup.village.id, b"\xff" * (LIMIT + 100))
    assert_error(just_over, 413, "too_large")

    # a body that does not say how long it is (chunked): counted as it arrives
    async def chunked() -> AsyncIterator[bytes]:
        yield (
            b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n"
        )
        for _ in range(40):
            yield b"\x00" * 10_000
        yield b"\r\n--b0undary--\r\n"

    streamed = await world.call(
        "POST",
        f"/villages/{setup.village.id}/photos",
        setup.people["villager"],
        content=chunked(),
        headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
    )
    assert_error(streamed, 413, "too_large")
    assert "195 KB" in streamed.json()["detail"]

    # a decompression bomb: a small file that would decode to 49 megapixels
    buffer = io.BytesIO()
    Image.new("1", (7000, 7000)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < LIMIT
    assert_error(
        await upload(world, setup.people["villager"], setup.village.id, buffer.getvalue()), 413, "too_large"
    )
    async with world.session() as session:
        assert (await session.execute(text("SELECT count(*) FROM photos"))).scalar_one() == 0
    assert not (settings.data_dir / "photos").exists() or stored_files(settings) == []


async def test_awards_carry_photos_and_a_rule_may_require_them(world: World) -> None:
    setup = await world.setup_village()
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    courtyard = await make_rule(world, setup, 20, evidence_required=True)
    photo = await uploaded(world, cadre, setup.village.id)
    second = await uploaded(world, cadre, setup.village.id, seed=2)

    bare = await award(world, cadre, household.id, courtyard)
    assert "照片" in assert_error(bare, 409, "evidence_required")["detail"]
    assert (await balance(world, admin, household.id))["posted"] == 0

    body = {
        "household_id": str(household.id),
        "rule_id": courtyard["id"],
        "photo_ids": [photo["id"], second["id"]],
    }
    made = await world.call("POST", "/awards", cadre, json=body, headers=key())
    assert made.status_code == 201, made.text
    assert made.json()["photo_ids"] == [photo["id"], second["id"]]
    assert made.json()["status"] == "posted"
    read = await world.call("GET", f"/awards/{made.json()['id']}", admin)
    assert read.json()["photo_ids"] == [photo["id"], second["id"]]
    listed = await world.call("GET", f"/villages/{setup.village.id}/awards", admin)
    assert listed.json()["items"][0]["photo_ids"] == [photo["id"], second["id"]]
    # the audit trail (and so the chain) records the evidence by its hash
    trail = await world.call(
        "GET", "/audit", admin, params={"record_id": made.json()["id"], "action": "award.submit"}
    )
    assert trail.json()["items"][0]["after"]["photos"] == [photo["sha256"], second["sha256"]]
    uploads = await world.call(
        "GET", "/audit", admin, params={"record_id": photo["id"], "action": "photo.upload"}
    )
    assert uploads.json()["items"][0]["after"]["sha256"] == photo["sha256"]

    # a batch item without its photo is named; nothing posts
    items = [body, {"household_id": str(setup.households[2].id), "rule_id": courtyard["id"]}]
    batch = await world.call("POST", "/awards/batch", cadre, json={"items": items}, headers=key())
    assert assert_error(batch, 409, "evidence_required")["index"] == 1
    assert (await balance(world, admin, household.id))["posted"] == 20


async def test_a_photo_of_another_village_is_refused_on_an_award(world: World) -> None:
    setup = await world.setup_village()
    other = await world.setup_village()
    foreign = await uploaded(world, other.people["cadre"], other.village.id)
    rule = await make_rule(world, setup, 10)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    body = {"household_id": str(household.id), "rule_id": rule["id"], "photo_ids": [foreign["id"]]}
    assert_error(await world.call("POST", "/awards", cadre, json=body, headers=key()), 409, "unknown_photo")
    body["photo_ids"] = ["00000000-0000-4000-8000-000000000000"]
    assert_error(await world.call("POST", "/awards", cadre, json=body, headers=key()), 409, "unknown_photo")
    assert (await balance(world, admin, household.id))["posted"] == 0
    body["photo_ids"] = ["not-a-uuid"]
    assert (await world.call("POST", "/awards", cadre, json=body, headers=key())).status_code == 422
    body["photo_ids"] = [foreign["id"]] * 10
    assert (await world.call("POST", "/awards", cadre, json=body, headers=key())).status_code == 422
    # the same photo twice on one award is kept once
    own = await uploaded(world, cadre, setup.village.id)
    body["photo_ids"] = [own["id"], own["id"]]
    made = await world.call("POST", "/awards", cadre, json=body, headers=key())
    assert made.status_code == 201, made.text
    assert made.json()["photo_ids"] == [own["id"]]


async def test_photo_records_are_append_only(world: World, settings: Settings) -> None:
    setup = await world.setup_village()
    await uploaded(world, setup.people["cadre"], setup.village.id)
    assert settings.database_url
    connection = await asyncpg.connect(_asyncpg_url(settings.database_url))
    try:
        for statement in ("UPDATE photos SET size = 1", "DELETE FROM photos", "DELETE FROM award_photos"):
            with pytest.raises(asyncpg.PostgresError):
                await connection.execute(statement)
    finally:
        await connection.close()
