"""A leaner counter sale: sale_submit (0023) planned once per connection, not once per sale.

Profiled on `sale_submit` called alone (pgbench, the sale bench's database: one unit of one of 8 items, a
different household each sale; pg_stat_statements with `track = all` and `track_planning`,
`track_functions`; `docs/benchmarks.md`, "The counter sale, planned once"):

- **Planning.** Two of its statements were planned afresh on every call: the items' check (stock, the
  per-item limits with their local periods, the lines' JSON) took ~750 µs to plan for ~70 µs to run, and the
  items' lock ~110 µs for ~25 µs: both read the basket through `unnest(p_items, …)` or `= ANY (p_items)`,
  which a custom plan sees as one row and a generic plan estimates at ten, so PostgreSQL's plan cache judged
  the generic plan dearer and kept planning. Together about 40% of the whole call. The function now runs
  with `plan_cache_mode = force_generic_plan`: each statement is planned once per connection. The two
  statements that join the basket with the items (the check, and the stock update, which 0023 already ran
  on a generic plan) also name the items by `i.id = ANY (p_items)`, which the basket's lines imply: a
  generic plan, guessing ten lines, otherwise hash-joined the basket against a sequential scan of the
  village's whole catalogue; now the items are found through their key, whatever the catalogue's size.
- **The household's balance** after the sale is the balance read on its locked row less the sale's total
  (the row ledger_post moves, locked by this call since it read it), not read again.
- **Ids** are `uuidv7()` (PostgreSQL 18), as award_submit's (0022): the sale's, its ledger transaction's and
  its outbox event's ids are time-ordered, so their index entries land at the right-hand end of the indexes
  (`pk_redemptions`, `ix_redemptions_id`, the transaction's and the postings' keys) instead of at random
  pages.

- **Four CHECKs of the store's tables read cheaper.** PostgreSQL reads a table's CHECK constraints from their
  stored text once per writing statement; the four that list values (an item's limit period, read on every
  sale's stock update; a sale's status; a stock movement's kind, and which kinds name a sale) held an array of
  casts, and now hold one text-array constant, as 0016 did for the ledger's kinds: the same names, the same
  meaning, about a quarter of the text (`callgrind` on `postgres --single`: the store tables' fifteen CHECKs
  were ~560 k instructions of the sale's ~4.6 M).

Nothing else changes: the same checks in the same order, the same refusals (NULL: nothing written, the Python
path answers with its codes and messages), the same rows and the same answer bytes. Every invariant is the
database's as before: the item and household rows locked in the same order, the CHECKs on stock and balance,
the postings through ledger_post, append-only tables, the key claimed before any lock.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02
"""

from jifen.kit.migrate import execute_script, function_of, released, replaced

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


_0023 = released("0023_sale_call.py")


RELEASED = function_of(_0023.UPGRADE, "sale_submit")

LEAN = replaced(
    RELEASED,
    # planned once per connection (the basket's unnest kept two statements on custom plans)
    (
        f") RETURNS text LANGUAGE plpgsql {_0023.PINNED} AS $$",
        f") RETURNS text LANGUAGE plpgsql {_0023.PINNED}\nSET plan_cache_mode = force_generic_plan AS $$",
    ),
    # time-ordered ids (0022's award_submit draws its ids the same way)
    ("    redemption uuid := gen_random_uuid();\n", "    redemption uuid := uuidv7();\n"),
    ("    tx uuid := gen_random_uuid();\n", "    tx uuid := uuidv7();\n"),
    (
        "VALUES (v_village, gen_random_uuid(), 'sale.completed',",
        "VALUES (v_village, uuidv7(), 'sale.completed',",
    ),
    # the basket's items found through the items' key, whatever the plan (a generic plan guesses ten lines
    # for the basket and would otherwise hash-join it against every item of the village)
    (
        "      LEFT JOIN items i ON i.village_id = v_village AND i.id = b.item_id\n",
        "      LEFT JOIN items i ON i.village_id = v_village AND i.id = b.item_id AND i.id = ANY (p_items)\n",
    ),
    (
        "         WHERE i.village_id = v_village AND i.id = l.item_id\n",
        "         WHERE i.village_id = v_village AND i.id = l.item_id AND i.id = ANY (p_items)\n",
    ),
    # the balance after: read on the locked row, less the sale (ledger_post moves that row by -total)
    ("    v_available bigint;\n", "    v_available bigint;\n    v_posted bigint;\n"),
    (
        "    SELECT a.posted - a.held INTO v_available FROM accounts a\n",
        "    SELECT a.posted - a.held, a.posted INTO v_available, v_posted FROM accounts a\n",
    ),
    (
        "    SELECT a.posted INTO v_balance FROM accounts a WHERE a.village_id = v_village AND a.id = v_household;\n",
        "    v_balance := v_posted - t.total;\n",
    ),
)


def _any_of(column: str, values: str) -> str:
    return f"{column}::text = ANY ('{{{','.join(values.split())}}}'::text[])"


def _in(column: str, values: str) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values.split()) + ")"


# (table, constraint, its check as one text-array constant, as 0004 wrote it)
CHECKS = (
    (
        "items",
        "ck_items_limit_period",
        _any_of("limit_period", "day week month quarter year"),
        _in("limit_period", "day week month quarter year"),
    ),
    (
        "redemptions",
        "ck_redemptions_status",
        _any_of("status", "completed cancelled"),
        _in("status", "completed cancelled"),
    ),
    (
        "stock_movements",
        "ck_stock_movements_kind",
        _any_of("kind", "restock sale cancel correction"),
        _in("kind", "restock sale cancel correction"),
    ),
    (
        "stock_movements",
        "ck_stock_movements_redemption",
        f"({_any_of('kind', 'sale cancel')}) = (redemption_id IS NOT NULL)",
        f"({_in('kind', 'sale cancel')}) = (redemption_id IS NOT NULL)",
    ),
)


def _checks(cheap: bool) -> str:
    sql = ""
    for table, name, as_array, as_list in CHECKS:
        check = as_array if cheap else as_list
        sql += (
            f"ALTER TABLE {table} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} CHECK ({check}) NOT VALID;\n"
            f"ALTER TABLE {table} VALIDATE CONSTRAINT {name};\n"
        )
    return sql


def upgrade() -> None:
    execute_script(LEAN + _checks(cheap=True))


def downgrade() -> None:
    execute_script(RELEASED + _checks(cheap=False))
