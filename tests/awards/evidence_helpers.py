"""Photos for evidence tests: real images made in memory, uploads and self-reports through the API."""

from __future__ import annotations

import io
import random
import uuid
from typing import Any

from PIL import Image

from tests.factories import Person, World
from tests.ledger.helpers import key


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (64, 48), *, noise: bool = False, seed: int = 1
) -> bytes:
    """A real image; `noise` makes it incompressible (big files), `seed` makes distinct ones."""
    image = Image.new("RGB", size, (seed * 37 % 256, 120, 60))
    if noise:
        rng = random.Random(seed)
        image.putdata(
            [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size[0] * size[1])]
        )
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


async def upload(
    world: World,
    who: Person | None,
    village_id: uuid.UUID,
    data: bytes,
    name: str = "photo.png",
    ctype: str = "image/png",
) -> Any:
    return await world.call(
        "POST", f"/villages/{village_id}/photos", who, files={"file": (name, data, ctype)}
    )


async def uploaded(world: World, who: Person, village_id: uuid.UUID, seed: int = 1) -> dict[str, Any]:
    response = await upload(world, who, village_id, image_bytes(seed=seed))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def self_report(
    world: World,
    who: Person,
    household_id: uuid.UUID,
    rule: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    **extra: Any,
) -> Any:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else key()
    return await world.call(
        "POST",
        f"/households/{household_id}/self-reports",
        who,
        json={"rule_id": rule["id"], "note": "帮邻居清理门前垃圾", **extra},
        headers=headers,
    )
