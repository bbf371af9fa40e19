"""A body limit on every route, enforced while the body streams in: a huge login form, a huge JSON award or
a body of unknown length is refused (413 too_large) fast, after reading at most about the limit, with memory
flat and no temporary file left; the big legitimate bodies (a 10,000-award batch, a photo) still fit."""

from __future__ import annotations

import os
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jifen.settings import Settings
from tests.awards.evidence_helpers import image_bytes, upload
from tests.factories import World
from tests.helpers import assert_error
from tests.ledger.helpers import make_rule

FIFTY_MB = 50 * 1024 * 1024
CHUNK = 64 * 1024


class Flood:
    """A request body of `total` bytes made on the fly, counting what the server actually pulled."""

    def __init__(self, head: bytes = b"", total: int = FIFTY_MB, fill: bytes = b"a") -> None:
        self.head, self.total, self.sent = head, total, 0
        self.block = fill * CHUNK

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            self.sent += len(self.head)
            yield self.head
        while self.sent < self.total:
            piece = self.block[: self.total - self.sent]
            self.sent += len(piece)
            yield piece


def _open_temp_files() -> set[str]:
    """What this process holds open in the temporary directory (spooled uploads included)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(tempfile.gettempdir()):
            found.add(target)
    return found


def _temp_dir_entries() -> set[str]:
    return set(os.listdir(tempfile.gettempdir()))


async def _refused_quickly(world: World, path: str, flood: Flood, headers: dict[str, str]) -> None:
    open_before, entries_before = _open_temp_files(), _temp_dir_entries()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        response = await world.client.post(path, content=flood, headers=headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started

    if path.startswith("/api/"):
        detail = assert_error(response, 413, "too_large")["detail"]
    else:  # a page answers with a page
        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith("text/html")
        detail = response.text
    assert "提交的内容太大" in detail
    assert "1 MB" in detail  # the person is told the limit
    assert flood.sent <= 2 * 1024 * 1024, flood.sent  # the rest of the 50 MB was never read
    assert peak < 16 * 1024 * 1024, peak
    # refused as soon as the limit is passed (flood.sent above), not after 50 MB: seconds, not minutes,
    # even on a loaded machine with every allocation traced
    assert elapsed < 15, elapsed
    assert _open_temp_files() <= open_before
    assert _temp_dir_entries() <= entries_before


BOUNDARY = "jifenb0undary"
MULTIPART_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="username"\r\n\r\nadmin\r\n'
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="password"; filename="p.bin"\r\n'
    "Content-Type: application/octet-stream\r\n\r\n"
).encode()


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", ["/api/v1/auth/token", "/login"])
async def test_a_50_mb_multipart_login_is_refused_while_it_streams_in(
    world: World, path: str, declared: bool
) -> None:
    flood = Flood(MULTIPART_HEAD)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    if declared:
        headers["Content-Length"] = str(FIFTY_MB)
    await _refused_quickly(world, path, flood, headers)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_50_mb_urlencoded_login_is_refused_while_it_streams_in(world: World, declared: bool) -> None:
    flood = Flood(b"username=admin&password=")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if declared:
        headers["Content-Length"] = str(FIFTY_MB)
    await _refused_quickly(world, "/api/v1/auth/token", flood, headers)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_50_mb_json_award_is_refused_while_it_streams_in(world: World, declared: bool) -> None:
    setup = await world.setup_village()
    rule = await make_rule(world, setup, 10)
    head = f'{{"household_id": "{setup.households[0].id}", "rule_id": "{rule["id"]}", "note": "'.encode()
    flood = Flood(head)
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": uuid.uuid4().hex,
        **setup.people["cadre"].headers,
    }
    if declared:
        headers["Content-Length"] = str(FIFTY_MB)
    await _refused_quickly(world, "/api/v1/awards", flood, headers)


async def test_a_body_that_lies_about_its_length_is_counted(world: World) -> None:
    flood = Flood(b"username=admin&password=")
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "100"}
    await _refused_quickly(world, "/api/v1/auth/token", flood, headers)


async def test_a_batch_of_10000_awards_still_fits(world: World, settings: Settings) -> None:
    setup = await world.setup_village()
    rule = await make_rule(world, setup, 1)
    items = [
        {"household_id": str(setup.households[n % 3].id), "rule_id": rule["id"], "note": "门前三包" * 125}
        for n in range(10_000)
    ]
    body = {"items": items}

    response = await world.call(
        "POST", "/awards/batch", setup.people["cadre"], json=body, headers={"Idempotency-Key": "big-batch"}
    )

    # 10,000 items with 500-character notes: ~16 MB, over the default limit, within the batch route's own
    assert response.status_code == 201, response.text[:500]
    assert len(response.json()["items"]) == 10_000
    assert settings.body_max_bytes < 16 * 1024 * 1024 <= settings.batch_body_max_bytes


@pytest.fixture(autouse=True)
def private_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Spooled uploads go to a directory of this test's own, so what is left there is this test's."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    return spool


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"data_dir": tmp_path / "data"})


async def test_a_photo_bigger_than_the_default_body_limit_still_uploads(
    world: World, settings: Settings
) -> None:
    setup = await world.setup_village()
    photo = image_bytes("PNG", (900, 700), noise=True)  # ~1.9 MB of noise
    assert len(photo) > settings.body_max_bytes

    uploaded = await upload(world, setup.people["villager"], setup.village.id, photo)

    assert uploaded.status_code == 201, uploaded.text


async def test_a_50_mb_photo_upload_is_refused_while_it_streams_in(world: World) -> None:
    setup = await world.setup_village()
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    flood = Flood(head, fill=b"\x00")
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        **setup.people["villager"].headers,
    }
    open_before = _open_temp_files()
    response = await world.client.post(
        f"/api/v1/villages/{setup.village.id}/photos", content=flood, headers=headers
    )
    assert_error(response, 413, "too_large")
    assert flood.sent <= 9 * 1024 * 1024  # the photo limit (8 MB) and a little: never the 50 MB
    assert _open_temp_files() <= open_before
