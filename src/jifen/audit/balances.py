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
_RECONCILE = """
WITH ledger AS (
    SELECT p.account_id,
           sum(p.amount) AS posted,
           sum(CASE
                 WHEN t.kind IN ('award', 'rectification') THEN greatest(p.amount, 0)
                 WHEN t.kind = 'reversal' AND r.kind IN ('award', 'rectification') THEN least(p.amount, 0)
                 WHEN t.kind = 'adjustment' THEN least(p.amount, 0)
                 ELSE 0
               END) AS earned
      FROM postings p
      JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
      LEFT JOIN ledger_transactions r ON r.village_id = t.village_id AND r.id = t.reverses_id
     WHERE p.village_id = $1
     GROUP BY p.account_id
), held AS (
    SELECT account_id, sum(amount) AS held FROM holds
     WHERE village_id = $1 AND status = 'active'
     GROUP BY account_id
), compared AS (
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
SELECT (SELECT count(*) FROM compared) AS checked, bad.*
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (
        SELECT * FROM compared c
         WHERE c.posted <> c.expected_posted OR c.held <> c.expected_held
            OR c.lifetime_earned <> c.expected_earned
         ORDER BY c.code, c.id
         LIMIT 1) bad ON true
"""


@dataclass
class Reconciliation:
    checked: int
    first_bad: dict[str, Any] | None


async def reconcile(conn: asyncpg.Connection, village_id: uuid.UUID) -> Reconciliation:
    """Compare every household account of the village with its postings and holds; name the first (by
    household code) that disagrees: account, household code, column, expected and found."""
    # SQL twin: migrations/versions/0013_balance_privileges.py ledger_post, ledger_hold, jifen_owner_only
    # (docs/invariants.md, posted and held are what the ledger says)
    row = await conn.fetchrow(_RECONCILE, village_id)
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
