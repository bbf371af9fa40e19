"""QR codes: a reservation's pickup code and a household's card. Each image is read back into its modules
(the PNG's pixels, the SVG's path) and must be exactly the QR code of the text the counter accepts — and
the counter must accept that text."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import segno
from PIL import Image

from jifen.funding.qr import ERROR_LEVEL, qr_png, qr_svg
from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import World
from tests.helpers import assert_error
from tests.store.helpers import fund, make_item, redeem

Matrix = list[list[int]]


def matrix_of(text: str) -> Matrix:
    return [list(row) for row in segno.make(text, error=ERROR_LEVEL, micro=False, boost_error=False).matrix]


def png_modules(png: bytes, scale: int, border: int = 4) -> Matrix:
    """The dark and light modules of a QR PNG, sampled at each module's centre."""
    image = Image.open(io.BytesIO(png)).convert("L")
    width, height = image.size
    assert width == height
    assert width % scale == 0
    size = width // scale - 2 * border
    pixels: Any = image.load()
    return [
        [
            1 if pixels[(border + x) * scale + scale // 2, (border + y) * scale + scale // 2] < 128 else 0
            for x in range(size)
        ]
        for y in range(size)
    ]


def svg_modules(svg: str, border: int = 4) -> Matrix:
    """The modules an SVG path of horizontal runs draws (segno's `M x y`, `m dx dy` and `hN` commands)."""
    width = int(re.search(r'width="(\d+)"', svg)[1])  # type: ignore[index]
    scale = int(re.search(r"scale\((\d+)\)", svg)[1])  # type: ignore[index]
    size = width // scale - 2 * border
    modules = [[0] * size for _ in range(size)]
    path = re.search(r' d="([^"]+)"', svg)[1]  # type: ignore[index]
    x = y = 0.0
    for command, args in re.findall(r"([MmHhVv])([^MmHhVv]*)", path):
        numbers = [float(n) for n in args.replace(",", " ").split()]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        elif command == "h":
            for column in range(int(x), int(x + numbers[0])):
                modules[int(y) - border][column - border] = 1
            x += numbers[0]
        else:
            raise AssertionError(f"unexpected path command {command}")
    return modules


def test_the_helpers_draw_exactly_the_text() -> None:
    for text in ("123456", "XF-001", "hz-7.a_b"):
        assert png_modules(qr_png(text, scale=5), 5) == matrix_of(text)
        assert svg_modules(qr_svg(text, scale=3)) == matrix_of(text)
        inline = qr_svg(text, inline=True)
        assert inline.startswith("<svg")
        assert f"<title>{text}</title>" in inline
    assert matrix_of("123456") != matrix_of("123457")


async def test_a_pickup_codes_qr_holds_the_code_the_counter_redeems(world: World) -> None:
    setup = await world.setup_village()
    villager, clerk = setup.people["villager"], setup.people["clerk"]
    await fund(world, setup, setup.households[0].id, 100)
    oil = await make_item(world, setup, "食用油", 30, 5)
    made = await world.call(
        "POST",
        "/reservations",
        villager,
        json={"store_id": str(setup.store.id), "lines": [{"item_id": oil["id"], "quantity": 1}]},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert made.status_code == 201, made.text
    reservation = made.json()
    assert reservation["qr_payload"] == reservation["code"]

    svg = await world.call("GET", f"/reservations/{reservation['id']}/qr.svg", villager)
    assert svg.status_code == 200, svg.text
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.headers["cache-control"] == "private, no-store"
    assert svg_modules(svg.text) == matrix_of(reservation["code"])
    png = await world.call("GET", f"/reservations/{reservation['id']}/qr.png", clerk, params={"scale": 6})
    assert png.status_code == 200, png.text
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    scanned = reservation["code"]
    assert png_modules(png.content, 6) == matrix_of(scanned)

    # the scanner types what the QR holds; the counter takes it as it is
    redeemed = await world.call(
        "POST",
        "/reservations/redeem",
        clerk,
        json={"store_id": str(setup.store.id), "code": scanned},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert redeemed.status_code == 201, redeemed.text
    # refusals
    assert_error(await world.call("GET", f"/reservations/{uuid.uuid4()}/qr.svg", clerk), 404)
    assert_error(
        await world.call("GET", f"/reservations/{reservation['id']}/qr.svg", setup.people["cadre"]), 403
    )
    assert_error(
        await world.call("GET", f"/reservations/{reservation['id']}/qr.png", villager, params={"scale": 0}),
        422,
    )
    neighbour = await world.person(
        RoleGrantIn(role=Role.villager, village_id=setup.village.id, household_id=setup.households[1].id)
    )
    assert_error(await world.call("GET", f"/reservations/{reservation['id']}/qr.svg", neighbour), 404)


async def test_a_household_cards_qr_holds_the_code_the_counter_finds(world: World) -> None:
    setup = await world.setup_village()
    household = setup.households[0]
    await fund(world, setup, household.id, 100)
    soap = await make_item(world, setup, "香皂", 5, 10)

    png = await world.call("GET", f"/households/{household.id}/qr.png", setup.people["villager"])
    assert png.status_code == 200, png.text
    assert png_modules(png.content, 8) == matrix_of(household.code)
    svg = await world.call("GET", f"/households/{household.id}/qr.svg", setup.people["cadre"])
    assert svg.status_code == 200
    assert svg_modules(svg.text) == matrix_of(household.code)

    sale = await redeem(
        world, setup.people["clerk"], setup.store.id, None, [(soap["id"], 1)], household_code=household.code
    )
    assert sale.status_code == 201, sale.text
    assert sale.json()["household_id"] == str(household.id)

    other = setup.households[1]
    assert_error(await world.call("GET", f"/households/{other.id}/qr.svg", setup.people["villager"]), 404)
    stranger = (await world.setup_village()).people["village_admin"]
    assert_error(await world.call("GET", f"/households/{household.id}/qr.png", stranger), 404)
    assert_error(await world.call("GET", f"/households/{household.id}/qr.png"), 401)
