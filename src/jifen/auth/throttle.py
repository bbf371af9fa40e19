"""Slows password guessing: after repeated failed logins a user name is refused for a while (429).

The count is kept in the process, per user name (known or not, so the answer leaks nothing); with
`serve --workers N` each worker counts on its own, which still bounds guessing to N times the limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from fastapi import FastAPI

from jifen.kit.errors import JifenError

MAX_FAILURES = 10
WINDOW_SECONDS = 15 * 60
MAX_TRACKED_NAMES = 10_000


class TooManyAttempts(JifenError):
    code = "too_many_attempts"
    status = 429
    default_detail = "登录失败次数过多，请稍后再试"


@dataclass
class LoginThrottle:
    max_failures: int = MAX_FAILURES
    window_seconds: float = WINDOW_SECONDS
    failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def _recent(self, key: str, now: float) -> deque[float]:
        stamps = self.failures.get(key, deque())
        while stamps and stamps[0] <= now - self.window_seconds:
            stamps.popleft()
        return stamps

    def check(self, username: str) -> None:
        """Refuse the attempt when this name has failed too often lately."""
        now = time.monotonic()
        stamps = self._recent(_key(username), now)
        if len(stamps) >= self.max_failures:
            retry_after = int(stamps[0] + self.window_seconds - now) + 1
            raise TooManyAttempts(retry_after=retry_after)

    def failed(self, username: str) -> None:
        key = _key(username)
        now = time.monotonic()
        stamps = self._recent(key, now)
        stamps.append(now)
        self.failures[key] = stamps
        self.failures.move_to_end(key)
        while len(self.failures) > MAX_TRACKED_NAMES:  # bounded memory under a spray of random names
            self.failures.popitem(last=False)

    def succeeded(self, username: str) -> None:
        self.failures.pop(_key(username), None)


def _key(username: str) -> str:
    return username.strip().lower()


def login_throttle(app: FastAPI) -> LoginThrottle:
    """The application's throttle, made on first use."""
    throttle: LoginThrottle | None = getattr(app.state, "login_throttle", None)
    if throttle is None:
        throttle = LoginThrottle()
        app.state.login_throttle = throttle
    return throttle
