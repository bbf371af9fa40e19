"""A grid inspection in one database call: award_submit() takes the batch id the awards are written under and
an optional Idempotency-Key.

`POST /inspections/{id}/submit` ran the general Python path for every sheet (per item checks, the posting,
the awards, their audit events and outbox events, one statement each). Its scores are almost always of the
shape award_submit covers (migration 0021), so the inspection now tries that call first:

- **p_batch**: the awards' batch id. An inspection's awards carry the inspection's id as their batch
  (as the general path writes them); NULL keeps what it was, a batch of its own for `POST /awards/batch`
  (p_many) and none for a single award.
- **p_key NULL**: no idempotency claim. The inspection endpoint's `@idempotent` has already claimed the
  key and stores the whole answer (the sheet and its awards) itself; the call's answer is then only the
  awards, read back by the caller.

A new argument changes the function's signature, so the function of 0022 is dropped and created anew (the
same text, derived from the released one, with the same REVOKE and GRANT); jifen_award_claim_post keeps its
signature and is replaced. Everything else is as it was: a refusal, or a shape the call does not cover, writes
nothing and answers NULL, and the caller runs the general path, which gives the refusal.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-02
"""

from jifen.kit.migrate import APP_ROLE, execute_script, released, replaced

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


_0021 = released("0021_award_call.py")
_0022 = released("0022_award_sql.py")


OLD_SIGNATURE = _0021.SIGNATURE
SIGNATURE = (
    "award_submit(uuid, integer, text, text, text, text, text, boolean, uuid, timestamptz, uuid[], uuid[],"
    " integer[], text[])"
)

# award_submit of 0022 with the batch id and the key optional
AWARD_SUBMIT = replaced(
    _0022.AWARD_SUBMIT,
    ("CREATE OR REPLACE FUNCTION award_submit(", "CREATE FUNCTION award_submit("),
    (
        "    p_key text,              -- the Idempotency-Key and the request's fingerprint (kit/idempotency.py)\n",
        "    p_key text,              -- the Idempotency-Key and the request's fingerprint (kit/idempotency.py);\n"
        "                             -- NULL: no claim (the caller claimed the key and stores its answer)\n",
    ),
    (
        '    p_many boolean,          -- POST /awards/batch: {"items": [...]} and a batch id\n',
        '    p_many boolean,          -- POST /awards/batch: {"items": [...]} and a batch id\n'
        "    p_batch uuid,            -- the awards' batch id (an inspection's); NULL: as p_many says\n",
    ),
    (
        "        batch := ids;\n    END IF;\n",
        "        batch := ids;\n    END IF;\n    batch := coalesce(p_batch, batch);\n",
    ),
)

# jifen_award_claim_post of 0022: no claim without a key
_CLAIM = (
    "    INSERT INTO idempotency_keys (village_id, caller_id, key, request_hash, status_code, response)\n"
    "    VALUES (p_village, p_actor, p_key, p_request_hash, 201, p_answer)\n"
    "    ON CONFLICT DO NOTHING RETURNING true INTO claimed;\n"
)
CLAIM_POST = replaced(
    _0022.CLAIM_POST,
    (
        _CLAIM,
        "    IF p_key IS NULL THEN\n        claimed := true;  -- the caller claimed the key\n    ELSE\n"
        + "".join("    " + line for line in _CLAIM.splitlines(keepends=True))
        + "    END IF;\n",
    ),
)


def _grants(signature: str) -> str:
    return rf"""
REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC;
DO $grant$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE};
  END IF;
END $grant$;
"""


UPGRADE = f"DROP FUNCTION {OLD_SIGNATURE};\n{AWARD_SUBMIT}{_grants(SIGNATURE)}{CLAIM_POST}"


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    old = _0022.AWARD_SUBMIT.replace("CREATE OR REPLACE FUNCTION", "CREATE FUNCTION", 1)
    execute_script(f"DROP FUNCTION {SIGNATURE};\n{old}{_grants(OLD_SIGNATURE)}{_0022.CLAIM_POST}")
