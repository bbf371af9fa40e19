"""Password hashing with argon2id. The test profile is cheap so the suite stays fast."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY

from jifen.settings import get_settings

MIN_PASSWORD_LENGTH = 8


@lru_cache
def _hasher() -> PasswordHasher:
    profile = CHEAPEST if get_settings().env == "test" else RFC_9106_LOW_MEMORY
    return PasswordHasher.from_parameters(profile)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache
def _dummy_hash() -> str:
    return hash_password("jifen-timing-equaliser")


def burn_verification_time(password: str) -> None:
    """Spend the time a real verification takes, so an unknown user answers like a wrong password."""
    verify_password(_dummy_hash(), password)
