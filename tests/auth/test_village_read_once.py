"""The access checks read a village once per transaction (auth/repository.py `village`): a second check in
the same transaction costs no statement, a change saved in it is read again, and the next transaction of the
same session reads afresh what another process changed."""

from __future__ import annotations

from sqlalchemy import text

from jifen.auth import repository
from jifen.auth.actor import console_actor
from jifen.villages import service as villages
from tests.factories import World


async def test_a_village_is_read_once_a_transaction_and_again_after_a_change(world: World) -> None:
    setup = await world.setup_village()
    village_id = setup.village.id
    async with world.session() as session:
        async with session.begin():
            first = await repository.village(session, village_id)
            assert first is not None
            assert await repository.village(session, village_id) is first  # kept: no second read
            await villages.change_settings(session, console_actor(), first, changes={"notice_days": 3})
            changed = await repository.village(session, village_id)
            assert changed is not None
            assert changed.notice_days == 3  # saved in this transaction: read again
        async with world.session() as other, other.begin():  # another process changes it
            await other.execute(
                text("UPDATE villages SET notice_days = 5 WHERE id = :id"), {"id": village_id}
            )
        async with session.begin():  # the same session's next transaction
            again = await repository.village(session, village_id)
            assert again is not None
            assert again.notice_days == 5
