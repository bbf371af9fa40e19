from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from jifen.demo import load_demo


async def test_the_demo_store_has_a_catalogue_sales_and_a_cancellation(app: FastAPI) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await load_demo(session)
    async with app.state.sessionmaker() as session:
        rows = await session.execute(text("SELECT name, price_points FROM items"))
        items = {name: price for name, price in rows.all()}
        assert items == {"香皂": 5, "洗衣粉": 15, "大米": 50, "食用油": 85}
        rows = await session.execute(text("SELECT status, count(*) FROM redemptions GROUP BY status"))
        statuses = {status: count for status, count in rows.all()}
        assert statuses["completed"] >= 3
        assert statuses["cancelled"] == 1
        # every shelf agrees with its movements
        mismatched = (
            await session.execute(
                text(
                    "SELECT count(*) FROM items i WHERE on_hand <> "
                    "(SELECT sum(quantity) FROM stock_movements m WHERE m.item_id = i.id)"
                )
            )
        ).scalar_one()
        assert mismatched == 0
