"""The role matrix for photo evidence, self-reports, a household's awards and star ratings.

See tests/role_matrix.py for what each answer must be. A photo's path names a photo uploaded to village A
before the matrix runs, so these rows format with `EvidenceOperation.url`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.awards.evidence_helpers import image_bytes, uploaded
from tests.factories import World
from tests.role_matrix import (
    AWARD_READERS,
    HOUSEHOLD_HISTORY,
    OWN_HOUSEHOLD_HISTORY,
    VILLAGE_USERS,
    Operation,
    Scene,
    build_scene,
    check_matrix,
    unique,
)

IDS: dict[str, Any] = {}
SUBMITTERS = frozenset({"cadre", "village_admin"})


@dataclass(frozen=True)
class EvidenceOperation(Operation):
    def url(self, scene: Scene) -> str:
        return self.path.format(
            village_a=scene.village_a.id,
            household=scene.household.id,
            own_household=scene.own_household.id,
            photo=IDS["photo"],
        )


def _photo_file(scene: Scene) -> dict[str, Any]:
    return {"file": ("photo.jpg", image_bytes("JPEG", seed=next(unique)), "image/jpeg")}


def _report(scene: Scene) -> dict[str, Any]:
    return {"rule_id": scene.rule["id"], "note": "打扫了村口", "photo_ids": [IDS["photo"]]}


def _award_with_photo(scene: Scene) -> dict[str, Any]:
    return {
        "household_id": str(scene.own_household.id),
        "rule_id": scene.rule["id"],
        "photo_ids": [IDS["photo"]],
    }


def _thresholds(scene: Scene) -> dict[str, Any]:
    base = next(unique)
    return {"star_thresholds": [base, base + 1, base + 2, base + 3, base + 4]}


OPERATIONS = [
    EvidenceOperation(
        "upload a photo", "POST", "/villages/{village_a}/photos", VILLAGE_USERS, files=_photo_file
    ),
    EvidenceOperation("see a photo", "GET", "/photos/{photo}", VILLAGE_USERS | {"town_admin"}),
    EvidenceOperation(
        "award with a photo", "POST", "/awards", SUBMITTERS, _award_with_photo, moves_points=True
    ),
    EvidenceOperation(
        "self-report",
        "POST",
        "/households/{own_household}/self-reports",
        frozenset({"villager"}),
        _report,
        moves_points=True,
    ),
    EvidenceOperation(
        "self-report for a neighbour",
        "POST",
        "/households/{household}/self-reports",
        frozenset(),
        _report,
        hidden_from=frozenset({"other_village_admin", "villager"}),
        moves_points=True,
    ),
    EvidenceOperation(
        "own household's awards",
        "GET",
        "/households/{own_household}/awards",
        OWN_HOUSEHOLD_HISTORY,
    ),
    EvidenceOperation(
        "a neighbour's awards",
        "GET",
        "/households/{household}/awards",
        HOUSEHOLD_HISTORY,
        hidden_from=frozenset({"other_village_admin", "villager"}),
    ),
    EvidenceOperation(
        "self-reports queue",
        "GET",
        "/villages/{village_a}/awards?self_report=true",
        AWARD_READERS,
    ),
    EvidenceOperation(
        "star ratings", "GET", "/villages/{village_a}/stars?year=2026", VILLAGE_USERS | {"town_admin"}
    ),
    EvidenceOperation(
        "star thresholds",
        "PATCH",
        "/villages/{village_a}",
        frozenset({"village_admin", "town_admin"}),
        _thresholds,
    ),
]


async def test_evidence_role_matrix(world: World) -> None:
    scene = await build_scene(world)
    photo = await uploaded(world, scene.person("village_admin"), scene.village_a.id)
    IDS["photo"] = photo["id"]
    await check_matrix(world, scene, OPERATIONS)
