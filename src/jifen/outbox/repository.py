"""Writing outbox events: one statement in the caller's transaction inserts the events and, for every
enabled channel of the village, their delivery rows (a webhook takes every event, SMS those of a household).
The delivery worker (jifen.notify) does the rest; nothing here ever updates an event.

An event's id is its identity for receivers (they drop a repeat by it). Reminders made by a due job (a
pickup code about to expire, points about to be cleared) use an id derived from what they remind of, so a
second pass writes nothing (`ON CONFLICT DO NOTHING`)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.jsonutil import compact_json
from jifen.kit.sql import Sql


class Kind(enum.StrEnum):
    award_posted = "award.posted"
    deduction_posted = "deduction.posted"
    notice_opened = "notice.opened"
    notice_ended = "notice.ended"
    objection_resolved = "objection.resolved"
    pickup_issued = "pickup.issued"
    pickup_expiring = "pickup.expiring"
    points_expiring = "points.expiring"
    sale_completed = "sale.completed"
    sale_cancelled = "sale.cancelled"


@dataclass(frozen=True, slots=True)
class Event:
    kind: Kind
    household_id: uuid.UUID | None
    payload: dict[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def posted(household_id: uuid.UUID, points: int, payload: dict[str, Any]) -> Event:
    """An award (points > 0) or a deduction posted to the household."""
    kind = Kind.award_posted if points > 0 else Kind.deduction_posted
    return Event(kind, household_id, {"points": points, **payload})


def fan_out(source: str) -> str:
    """The statement that inserts the events `source` selects (village_id, id, kind, household_id, payload)
    and a delivery row for each enabled channel that takes them; it answers how many events were new."""
    # SQL twin: migrations/versions/0021_award_call.py award_submit writes an award's events and their
    # deliveries inside its one call the same way; a change to which channel takes what changes both
    return f"""
WITH src AS ({source}),
     e AS (INSERT INTO outbox_events (village_id, id, kind, household_id, payload)
           SELECT village_id, id, kind, household_id, payload FROM src
           ON CONFLICT DO NOTHING
           RETURNING village_id, id, household_id),
     d AS (INSERT INTO outbox_deliveries (village_id, event_id, channel_id)
           SELECT e.village_id, e.id, c.id
             FROM e JOIN notify_channels c ON c.village_id = e.village_id AND c.enabled
              AND (c.kind = 'webhook' OR e.household_id IS NOT NULL))
SELECT count(*) AS new FROM e
"""


_RECORD = fan_out(
    "SELECT $1::uuid AS village_id, t.id, t.kind, t.household_id, t.payload::jsonb AS payload"
    " FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::text[]) AS t(id, kind, household_id, payload)"
)


async def record(session: AsyncSession, village_id: uuid.UUID, events: Sequence[Event]) -> None:
    """The events, in the caller's transaction (one statement however many)."""
    # SQL twin: migrations/versions/0020_outbox.py outbox_events_append_only, pk_outbox_events
    # (docs/invariants.md, an event is written with its change)
    if not events:
        return
    await Sql(session).execute(
        _RECORD,
        village_id,
        [e.id for e in events],
        [e.kind.value for e in events],
        [e.household_id for e in events],
        [compact_json(e.payload) for e in events],
    )


async def record_one(session: AsyncSession, village_id: uuid.UUID, event: Event) -> None:
    await record(session, village_id, [event])
