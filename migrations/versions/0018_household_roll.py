"""The household roll (花名册) as villages keep it: a household's number of people (人口), a member's
relation to the head (与户主关系), and the grids a village fixes (网格) so an import can refuse a grid that
does not exist.

`villages.grids` empty means the village has not fixed its grids: any grid name is accepted. Only columns are
added, so the service role's existing privileges on these tables cover them.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from jifen.kit.migrate import execute_script

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        r"""
ALTER TABLE households
    ADD COLUMN population integer,
    ADD CONSTRAINT ck_households_population CHECK (population BETWEEN 1 AND 99);
ALTER TABLE members ADD COLUMN relation varchar(16);
ALTER TABLE villages ADD COLUMN grids varchar(32)[] NOT NULL DEFAULT '{}';
"""
    )


def downgrade() -> None:
    execute_script(
        """
ALTER TABLE villages DROP COLUMN grids;
ALTER TABLE members DROP COLUMN relation;
ALTER TABLE households DROP CONSTRAINT ck_households_population, DROP COLUMN population;
"""
    )
