"""Balances reconciled with the ledger: every household account's row (posted, held, lifetime_earned) must be
what its postings and active holds say. The hash chain proves the postings did not change; this proves the
balances people spend from were not changed beside them (by hand, as the owner or a superuser).

The lifetime-earned rule is ledger/service.py `earned_by`, as ledger_post() enforces it (migration 0013): a
household earns the positive amount of an award or rectification posting, and the reversal of such a
transaction takes its (negative) amount back, as does an adjustment (an objection lowering or revoking a
posted award, awards/notice.py); nothing else earns.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

# One set-based pass per village: postings and active holds summed per account, compared with the rows.
# what a household's posting earned (ledger/service.py `earned_by`)
# (`p` the posting, `t` its transaction, `r` the transaction it reverses); also rolled up per household by
# town/repository.py roll_up (household_period_points.earned)
EARNED_BY = """CASE
                 WHEN t.kind IN ('award', 'rectification') THEN greatest(p.amount, 0)
                 WHEN t.kind = 'reversal' AND r.kind IN ('award', 'rectification') THEN least(p.amount, 0)
                 WHEN t.kind = 'adjustment' THEN least(p.amount, 0)
                 ELSE 0
               END"""
_EARNED = f"sum({EARNED_BY})"

# each account's active holds
_HELD = (
    "SELECT account_id, sum(amount) AS held FROM holds WHERE village_id = $1 AND status = 'active' GROUP BY 1"
)

_RECONCILE = f"""
WITH ledger AS (
    SELECT p.account_id,
           sum(p.amount) AS posted,
           {_EARNED} AS earned
      FROM postings p
      JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
      LEFT JOIN ledger_transactions r ON r.village_id = t.village_id AND r.id = t.reverses_id
     WHERE p.village_id = $1
     GROUP BY p.account_id
), held AS ({_HELD}), compared AS (
    SELECT a.id, h.code,
           a.posted, coalesce(l.posted, 0) AS expected_posted,
           a.held, coalesce(d.held, 0) AS expected_held,
           a.lifetime_earned, coalesce(l.earned, 0) AS expected_earned
      FROM accounts a
      LEFT JOIN households h ON h.village_id = a.village_id AND h.id = a.household_id
      LEFT JOIN ledger l ON l.account_id = a.id
      LEFT JOIN held d ON d.account_id = a.id
     WHERE a.village_id = $1 AND a.kind = 'household'
)
"""
_FIRST_BAD = """
SELECT (SELECT count(*) FROM compared) AS checked, bad.*
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (
        SELECT * FROM compared c
         WHERE c.posted <> c.expected_posted OR c.held <> c.expected_held
            OR c.lifetime_earned <> c.expected_earned
         ORDER BY c.code, c.id
         LIMIT 1) bad ON true
"""


# The same comparison after a verified mark, its cost following what is new: every household account's row
# against its newest posting's running balance (an index lookup each) and its active holds; each posting after
# the mark against the one before it (its running balance must be the previous one plus its amount: with the
# postings before the mark verified, the newest balance is then what all the postings sum to; where it does
# not follow, the row is compared with what it should have been there); and the
# accounts with new postings' lifetime earned against what the background pass rolled up for them (all time,
# household_period_points, migration 0024) plus what they earned after its mark. A change made beside the
# roll-up and the row together, or to a record verified before the mark, is found by the full verification.
_RECONCILE_SINCE = f"""
WITH new AS (
    SELECT p.account_id, p.account_version, p.amount, p.balance_after FROM postings p
     WHERE p.village_id = $1 AND p.chain_id > $2 AND p.account_version IS NOT NULL
), chained AS (
    -- the first new posting of an account whose running balance does not follow from the one before it:
    -- what the balance should have been there
    SELECT DISTINCT ON (n.account_id) n.account_id, coalesce(b.balance_after, 0) + n.amount AS expected
      FROM new n
      LEFT JOIN postings b ON b.village_id = $1 AND b.account_id = n.account_id
                          AND b.account_version = n.account_version - 1
     WHERE n.balance_after <> coalesce(b.balance_after, 0) + n.amount
     ORDER BY n.account_id, n.account_version
), since_rolled AS (
    SELECT p.account_id, {_EARNED} AS earned
      FROM postings p
      JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
      LEFT JOIN ledger_transactions r ON r.village_id = t.village_id AND r.id = t.reverses_id
     WHERE p.village_id = $1 AND p.chain_id > $3 AND p.account_version IS NOT NULL
     GROUP BY p.account_id
), earned AS (
    SELECT x.account_id, coalesce(e.earned, 0) + coalesce(s.earned, 0) AS earned
      FROM (SELECT DISTINCT account_id FROM new) x
      LEFT JOIN household_period_points e
             ON e.village_id = $1 AND e.period = '*' AND e.account_id = x.account_id
      LEFT JOIN since_rolled s ON s.account_id = x.account_id
), held AS ({_HELD}), compared AS (
    SELECT a.id, h.code,
           a.posted, coalesce(c.expected, n.balance_after, 0) AS expected_posted,
           a.held, coalesce(d.held, 0) AS expected_held,
           a.lifetime_earned, coalesce(l.earned, a.lifetime_earned) AS expected_earned
      FROM accounts a
      LEFT JOIN households h ON h.village_id = a.village_id AND h.id = a.household_id
      LEFT JOIN earned l ON l.account_id = a.id
      LEFT JOIN held d ON d.account_id = a.id
      LEFT JOIN chained c ON c.account_id = a.id
      LEFT JOIN LATERAL (
            SELECT p.balance_after FROM postings p
             WHERE p.village_id = a.village_id AND p.account_id = a.id AND p.account_version IS NOT NULL
             ORDER BY p.account_version DESC LIMIT 1) n ON true
     WHERE a.village_id = $1 AND a.kind = 'household'
)
"""


_ROLLED = "SELECT coalesce((SELECT chain_id FROM village_rollup_marks WHERE village_id = $1), 0)"


@dataclass
class Reconciliation:
    checked: int
    first_bad: dict[str, Any] | None


async def reconcile(
    conn: asyncpg.Connection, village_id: uuid.UUID, *, since_chain_id: int | None = None
) -> Reconciliation:
    """Compare every household account of the village with its postings and holds; name the first (by
    household code) that disagrees: account, household code, column, expected and found. With
    `since_chain_id` (a verified mark), the cheaper comparison of _RECONCILE_SINCE."""
    # SQL twin: migrations/versions/0013_balance_privileges.py ledger_post, ledger_hold, jifen_owner_only
    # (docs/invariants.md, posted and held are what the ledger says)
    if since_chain_id is None:
        row = await conn.fetchrow(_RECONCILE + _FIRST_BAD, village_id)
    else:
        # the roll-up's mark as a value, so the plan knows how little follows it (as a subquery it was
        # planned as a third of the village's postings)
        rolled = await conn.fetchval(_ROLLED, village_id)
        row = await conn.fetchrow(_RECONCILE_SINCE + _FIRST_BAD, village_id, since_chain_id, rolled)
    assert row is not None
    if row["id"] is None:
        return Reconciliation(checked=row["checked"], first_bad=None)
    for column, expected in (
        ("posted", "expected_posted"),
        ("held", "expected_held"),
        ("lifetime_earned", "expected_earned"),
    ):
        if row[column] != row[expected]:
            return Reconciliation(
                checked=row["checked"],
                first_bad={
                    "account_id": str(row["id"]),
                    "household_code": row["code"],
                    "column": column,
                    "expected": int(row[expected]),
                    "found": int(row[column]),
                },
            )
    raise AssertionError("a disagreeing account agrees in every column")
