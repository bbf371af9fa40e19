"""The refusals most endpoints share, listed once for their OpenAPI `responses=` (with `error_responses`):
any authenticated read, and any idempotent write (a POST that moves points or money)."""

from __future__ import annotations

from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound
from jifen.kit.idempotency import IdempotencyKeyRequired, IdempotencyKeyReused

READ_ERRORS = (NotAuthenticated, Forbidden, NotFound)
MONEY_ERRORS = (*READ_ERRORS, IdempotencyKeyRequired, IdempotencyKeyReused)
