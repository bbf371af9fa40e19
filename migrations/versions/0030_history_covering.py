"""A household's newest running balance from the index alone: the postings' history index carries
`balance_after`.

Measured on the 500-village county (issue 13 item 5, `python -m bench scale`, 25,000,000 postings, 33 GB on
a machine with 24 GiB of memory): the admin page's audit verdict compares every household's balance row with
its newest posting's running balance, one probe of `uq_postings_account_history` per household. Each probe
also read the posting's row from the table, and a village's postings lie scattered over the whole table
(every village writes at once, so a table page holds the postings of many villages): 500 probes read about
825 pages that were not in memory, 0.29 ms each, 145 ms of the 150 ms statement (`EXPLAIN (ANALYZE,
BUFFERS)`), and the page's p95 was 0.77 s. In the index, a village's entries lie together, in account order:
with `balance_after` in it, the probe is an index-only scan of a few neighbouring pages.

The index is built anew (not concurrently: migrations run in a transaction; on a county this size, minutes
during which postings cannot be written) and takes the old one's name.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-02
"""

from jifen.kit.migrate import execute_script

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def _history_index(include: str) -> str:
    return f"""
CREATE UNIQUE INDEX uq_postings_account_history_next ON postings (village_id, account_id, account_version)
    {include}WHERE account_version IS NOT NULL;
DROP INDEX uq_postings_account_history;
ALTER INDEX uq_postings_account_history_next RENAME TO uq_postings_account_history;
"""


def upgrade() -> None:
    execute_script(_history_index("INCLUDE (balance_after) "))


def downgrade() -> None:
    execute_script(_history_index(""))
