"""Who may scrape /metrics: anyone who reaches it (JIFEN_METRICS=on), or whoever sends the configured token
(JIFEN_METRICS=token). Never a user's token: metrics are for the operator's scraper, not for villages."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from jifen.kit.errors import JifenError
from jifen.settings import Settings


class InvalidMetricsToken(
    JifenError,
    code="invalid_metrics_token",
    status=401,
    detail="监控数据需要正确的访问令牌（JIFEN_METRICS_TOKEN），请检查监控系统的配置",
): ...


def require_scraper(request: Request) -> None:
    settings: Settings = request.app.state.settings
    if settings.metrics_mode != "token":
        return
    assert settings.metrics_token is not None  # the settings refuse token mode without one
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.get_secret_value()
    # compared in constant time, so the answer's timing says nothing of how much of a guess was right
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise InvalidMetricsToken()


Scraper = Annotated[None, Depends(require_scraper)]
