"""The award's lane makes its one call on a pooled driver connection (awards/fast_lane.py): an answer is
committed and counted once, a NULL rolls back and leaves the refusal to the router, and the connection goes
back to the pool usable either way."""

from __future__ import annotations

from typing import Any

import pytest

from jifen.awards import fast_lane
from jifen.kit.metrics import LEDGER_TRANSACTIONS
from tests.factories import World
from tests.helpers import assert_error
from tests.ledger.helpers import award, balance, make_rule


def _counted(kind: str) -> float:
    return float(LEDGER_TRANSACTIONS.labels(kind)._value.get())


async def test_the_lane_commits_counts_and_leaves_refusals_to_the_router(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await world.setup_village(households=2)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    first, second = setup.households
    plus = await make_rule(world, setup, 5)
    minus = await make_rule(world, setup, -20)
    assert (await award(world, cadre, first.id, plus)).status_code == 201  # caches the actor
    answers: list[Any] = []
    submit = fast_lane.submit_in_one_call

    async def seen(**kwargs: Any) -> bytes | None:
        assert kwargs["on"] is not None  # on the lane's driver connection
        answers.append(await submit(**kwargs))
        return answers[-1]

    monkeypatch.setattr(fast_lane, "submit_in_one_call", seen)
    awards, deductions = _counted("award"), _counted("deduction")

    posted = await award(world, cadre, second.id, plus)
    assert posted.status_code == 201, posted.text
    assert answers[-1] is not None
    assert _counted("award") == awards + 1

    # too few points: award_submit answers NULL, the lane rolls back, the router refuses it as always
    refused = await award(world, cadre, second.id, minus)
    assert answers[-1] is None
    assert_error(refused, 409, "insufficient_points")
    assert _counted("deduction") == deductions
    assert (await balance(world, admin, second.id))["posted"] == 5

    # the pool's connections are fine afterwards
    for _ in range(3):
        again = await award(world, cadre, second.id, plus)
        assert again.status_code == 201, again.text
        assert answers[-1] is not None
    assert (await balance(world, admin, second.id))["posted"] == 20
    assert _counted("award") == awards + 4
