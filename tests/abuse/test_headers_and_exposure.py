"""Headers and exposure: CSP and friends on every answer, HSTS only over HTTPS, no inline script in any page,
the API documentation off in prod, /readyz without internals, and photos without their EXIF (GPS)."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from PIL import Image

from jifen.app import create_app
from jifen.settings import Settings
from tests.awards.evidence_helpers import upload
from tests.factories import World

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "jifen" / "web" / "templates"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"data_dir": tmp_path})


async def _client_for(settings: Settings, base_url: str = "http://jifen.test") -> AsyncIterator[AsyncClient]:
    app = create_app(settings)
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url=base_url) as http,
    ):
        yield http


@pytest.mark.parametrize("path", ["/login", "/api/v1/auth/me", "/healthz", "/static/app.css"])
async def test_every_answer_carries_the_security_headers(world: World, path: str) -> None:
    response = await world.client.get(path)

    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "data:" in directives["img-src"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("same-origin", "strict-origin-when-cross-origin")
    assert "strict-transport-security" not in response.headers  # plain HTTP: no HSTS


async def test_hsts_only_over_https_and_a_forwarded_proto_only_from_a_trusted_proxy(
    world: World, settings: Settings
) -> None:
    over_https = await world.client.get("https://jifen.test/healthz")
    forged = await world.client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "max-age=" in over_https.headers["strict-transport-security"]
    assert "strict-transport-security" not in forged.headers

    trusting = settings.model_copy(update={"trust_proxy_headers": True})
    async for http in _client_for(trusting):
        behind_proxy = await http.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        plain = await http.get("/healthz")
    assert "max-age=" in behind_proxy.headers["strict-transport-security"]
    assert "strict-transport-security" not in plain.headers


def test_no_page_carries_an_inline_script_or_event_handler() -> None:
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    offenders = []
    for template in sorted(TEMPLATES.glob("*.html")):
        text = template.read_text(encoding="utf-8")
        offenders += [f"{template.name}: inline <script>" for _ in inline_script.finditer(text)]
        offenders += [f"{template.name}: {m.group().strip()}" for m in handler.finditer(text)]
        offenders += [f"{template.name}: javascript: URL" for _ in re.finditer("javascript:", text)]
    assert offenders == []


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
async def test_the_api_documentation_is_off_in_prod_unless_asked_for(settings: Settings, path: str) -> None:
    secret = "prod-secret-0123456789abcdef0123456789abcdef"
    prod = settings.model_copy(update={"env": "prod", "secret_key": secret})
    async for http in _client_for(prod):
        hidden = await http.get(path)
    async for http in _client_for(prod.model_copy(update={"public_docs": True})):
        public = await http.get(path)
    async for http in _client_for(settings):
        in_test = await http.get(path)

    assert hidden.status_code == 404
    assert public.status_code == 200
    assert in_test.status_code == 200


async def test_readyz_says_unavailable_without_internals(settings: Settings) -> None:
    unreachable = settings.model_copy(
        update={"database_url": "postgresql://jifen_app:secret@127.0.0.1:9/nowhere"}
    )
    async for http in _client_for(unreachable):
        response = await http.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["error"] == "database_unavailable"
    internals = r"[A-Z][a-z]+(Error|Exception)|OSError|asyncpg|sqlalchemy|127\.0\.0\.1|:9"
    assert not re.search(internals, response.text), response.text


def _jpeg_with_exif(pixels: Image.Image, *, latitude: float, orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "手机厂商"  # Make
    exif[0x0110] = "村民的手机"  # Model
    if orientation is not None:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (float(int(latitude)), 30.0, 15.5)
    gps[3] = "E"
    gps[4] = (113.0, 15.0, 42.0)
    buffer = io.BytesIO()
    pixels.save(buffer, format="JPEG", quality=90, exif=exif.tobytes(), comment=b"GPS 23.1291 113.2644")
    return buffer.getvalue()


def _stored(settings: Settings, sha256: str) -> bytes:
    return (settings.data_dir / "photos" / sha256[:2] / sha256).read_bytes()


async def test_a_photos_gps_and_other_exif_are_stripped_before_it_is_hashed_and_stored(
    world: World, settings: Settings
) -> None:
    setup = await world.setup_village()
    pixels = Image.new("RGB", (120, 80), (200, 40, 40))
    pixels.paste((20, 160, 20), (0, 0, 60, 80))
    original = _jpeg_with_exif(pixels, latitude=23.0)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the fixture really carries GPS

    villager = setup.people["villager"]
    uploaded = await upload(world, villager, setup.village.id, original, "IMG.jpg", "image/jpeg")

    assert uploaded.status_code == 201, uploaded.text
    photo = uploaded.json()
    stored = _stored(settings, photo["sha256"])
    assert photo["sha256"] == hashlib.sha256(stored).hexdigest()  # the hash is of the stripped bytes
    assert photo["sha256"] != hashlib.sha256(original).hexdigest()
    assert photo["size"] == len(stored)
    kept = Image.open(io.BytesIO(stored))
    assert kept.format == "JPEG"
    assert dict(kept.getexif()) == {}
    assert b"Exif" not in stored
    assert b"23.1291" not in stored
    assert "comment" not in kept.info
    assert kept.size == (120, 80)
    served = await world.call("GET", f"/photos/{photo['id']}", setup.people["cadre"])
    assert served.content == stored


async def test_orientation_is_applied_when_the_exif_goes(world: World, settings: Settings) -> None:
    setup = await world.setup_village()
    pixels = Image.new("RGB", (120, 80), (30, 30, 200))
    rotated = _jpeg_with_exif(pixels, latitude=23.0, orientation=6)  # "turn 90° clockwise to show"

    villager = setup.people["villager"]
    uploaded = await upload(world, villager, setup.village.id, rotated, "IMG.jpg", "image/jpeg")

    assert uploaded.status_code == 201, uploaded.text
    photo = uploaded.json()
    assert (photo["width"], photo["height"]) == (80, 120)  # as the villager saw it on the phone
    kept = Image.open(io.BytesIO(_stored(settings, photo["sha256"])))
    assert kept.size == (80, 120)
    assert 0x0112 not in kept.getexif()


async def test_the_same_picture_with_different_exif_is_stored_once(world: World, settings: Settings) -> None:
    setup = await world.setup_village()
    pixels = Image.new("RGB", (64, 64), (90, 90, 10))
    here, there = _jpeg_with_exif(pixels, latitude=23.0), _jpeg_with_exif(pixels, latitude=28.0)
    assert here != there

    first = await upload(world, setup.people["villager"], setup.village.id, here, "a.jpg", "image/jpeg")
    second = await upload(world, setup.people["cadre"], setup.village.id, there, "b.jpg", "image/jpeg")

    assert first.json()["sha256"] == second.json()["sha256"]
    assert len(list((settings.data_dir / "photos").rglob("*"))) == 2  # one directory, one file


async def test_png_text_and_exif_chunks_are_stripped(world: World, settings: Settings) -> None:
    from PIL.PngImagePlugin import PngInfo

    setup = await world.setup_village()
    meta = PngInfo()
    meta.add_text("GPS", "23.1291,113.2644")
    exif = Image.Exif()
    exif[0x010F] = "手机厂商"
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buffer, format="PNG", pnginfo=meta, exif=exif.tobytes())

    uploaded = await upload(world, setup.people["villager"], setup.village.id, buffer.getvalue())

    assert uploaded.status_code == 201, uploaded.text
    stored = _stored(settings, uploaded.json()["sha256"])
    assert b"23.1291" not in stored
    assert b"eXIf" not in stored
    assert Image.open(io.BytesIO(stored)).size == (40, 30)
