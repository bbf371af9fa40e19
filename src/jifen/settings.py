"""Configuration: one pydantic-settings class, read from the environment (prefix JIFEN_) or .env."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE = "secret_key"
MIN_SECRET_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 16
# SHA-256 of keys that were once published in jifen's source or tests (never the keys themselves): prod
# refuses them even when they are long enough
_PUBLISHED_KEY_DIGESTS = frozenset(
    {
        "c1f98e0c83b3bec3c9cc6b889a2ac20bea5d6543312e2576558d204425ab03ad",
        "8fecdc1c6486d8b09ec10895c727b13f3ddc0c76688a01b5535785906d8d9d96",
        "c794479c416cad7d95ac3bf6c1cd36bbe6ff82423d2850f886e243f5bd96136d",
        "9e4b8708d988dff257884eb503998b9316236207753e5e554455d51b6b417f46",
    }
)


def _read_secret_file(path: Path) -> str:
    """The install's key; refuses a file others may read or write, one nobody can read, or a cut one."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        raise ValueError(
            f"the signing key file {path} may be read or changed by other users (mode {mode:04o}); "
            f"run `chmod 600 {path}` (or delete it to sign everyone out and make a new key)"
        )
    try:
        key = path.read_text(encoding="ascii").strip()
    except (PermissionError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"the signing key file {path} cannot be read by this user ({exc.__class__.__name__}); "
            "run jifen as the user that owns the data directory"
        ) from exc
    if len(key) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"the signing key in {path} is too short ({len(key)} characters); "
            "delete the file to make a new key (everyone signs in again)"
        )
    return key


def load_or_create_secret(data_dir: Path) -> str:
    """The key kept in `data_dir/secret_key`, made (random, mode 0600) on first start.

    The key is written to a private temporary file and then linked to its name: the link either appears whole
    or fails because another process linked first, so workers starting at once all read the same key.
    """
    path = data_dir / SECRET_FILE
    with contextlib.suppress(FileNotFoundError):
        return _read_secret_file(path)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = data_dir / f".{SECRET_FILE}.{secrets.token_hex(8)}"
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(secrets.token_urlsafe(48) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process made the key first: use theirs
            os.link(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    return _read_secret_file(path)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIFEN_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    # The URL the service connects with. Unset: jifen starts its embedded PostgreSQL under data_dir.
    database_url: str | None = None
    # The URL migrations run with (the schema owner); defaults to database_url.
    migrate_database_url: str | None = None
    data_dir: Path = Path("var")
    # signs access tokens and session cookies; unset (outside prod): a random key kept in data_dir/secret_key
    secret_key: SecretStr | None = None
    token_ttl_seconds: int = Field(default=1800, ge=60, le=86400)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    # how long to wait for PostgreSQL to accept a new connection before answering 503 database_unavailable
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    # how long a request waits for a free pooled connection before answering 503 busy
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # the longest any one SQL statement may run, and the longest it may wait for a row or advisory lock,
    # before the request is answered 503 busy and its transaction (with every lock it held) rolls back
    statement_timeout_ms: int = Field(default=15000, ge=100, le=3_600_000)
    lock_timeout_ms: int = Field(default=5000, ge=50, le=3_600_000)
    # how long a server process keeps a signed-in user's roles without asking the database again (0: never);
    # another process sees a sign-out or a removed role this much later (the award re-checks in the database)
    actor_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    # a counter sale (POST /redemptions) as one database call (sale_submit, migration 0023); off: the Python
    # path for every sale (the same answers, refusals and rows)
    sale_in_one_call: bool = True
    log_level: str = "INFO"
    log_requests: bool = True
    # how long `jifen serve`, told to stop, waits for a worker to finish its requests and shut down before it
    # kills it (a worker can hang in its server's shutdown); a request cut off is rolled back, never half-done
    stop_timeout_seconds: int = Field(default=10, ge=1, le=600)
    # how often new records are linked into the villages' tamper-evident chains; 0 turns the loop off
    chain_interval_seconds: float = Field(default=5.0, ge=0, le=3600)
    # how long a browser stays signed in to the pages
    web_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # the largest photo (证据照片) a user may upload, in bytes
    upload_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    # the largest request body of any other route (JSON and forms), in bytes
    body_max_bytes: int = Field(default=1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    # the largest batch of awards (POST /awards/batch, an inspection sheet's scores): 10,000 items with
    # 500-character notes and 9 photos each measure 19 MB as UTF-8 JSON and 33.5 MB with \u escapes
    batch_body_max_bytes: int = Field(default=36 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024)
    # /docs, /redoc and /openapi.json in prod (always on in dev and test)
    public_docs: bool = False
    # honour X-Forwarded-Proto from a reverse proxy (HSTS over HTTPS); only behind a proxy that sets it
    trust_proxy_headers: bool = False
    # nightly backups (`jifen backup`) into this directory; unset: no nightly backup
    backup_dir: Path | None = None
    # how many nightly archives to keep (the newest)
    backup_keep: int = Field(default=7, ge=1, le=3650)
    # when the nightly backup runs, local (Asia/Shanghai) time
    backup_at: time = time(2, 30)
    # the town the villages belong to, as its people name it: the town admin's pages and exports carry it
    town_name: str = Field(default="本镇", min_length=1, max_length=32)
    # how old an award scored offline (its observed_at) may be when it reaches the server, in days
    observed_max_age_days: int = Field(default=7, ge=0, le=90)
    # notices (webhooks, SMS): seconds before the 1st, 2nd … retry of a failed delivery (the last repeats);
    # after `notify_max_attempts` failed tries a delivery is a dead letter until an admin retries it
    notify_retry_seconds: list[float] = Field(default=[10, 60, 300, 1800, 7200, 21600], min_length=1)
    notify_max_attempts: int = Field(default=12, ge=1, le=100)
    # how long one webhook or SMS request may take
    notify_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @field_validator("backup_dir", mode="before")
    @classmethod
    def _empty_backup_dir_is_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    # GET /metrics (Prometheus): off, on (open), or token (Bearer JIFEN_METRICS_TOKEN). Unset: token when a
    # token is configured, else on in dev and test, off in prod
    metrics: Literal["off", "on", "token"] | None = None
    metrics_token: SecretStr | None = None

    @model_validator(mode="after")
    def _resolve_secret_key(self) -> Settings:
        if self.secret_key is None:
            if self.env == "prod":
                raise ValueError(
                    "JIFEN_SECRET_KEY must be set in prod (a random value of at least 32 characters, e.g. "
                    "python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            self.secret_key = SecretStr(load_or_create_secret(self.data_dir))
        secret = self.secret_key.get_secret_value()
        # a laptop's .env may still carry an old published key: anyone could sign with it (tests use theirs)
        published = hashlib.sha256(secret.encode()).hexdigest() in _PUBLISHED_KEY_DIGESTS
        if self.env != "test" and published:
            raise ValueError(
                "JIFEN_SECRET_KEY is a key published in jifen's source: anyone could sign in as anyone. "
                "Remove it (outside prod jifen then makes its own key) or set a random value of at least "
                "32 characters"
            )
        if self.env == "prod" and len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                "JIFEN_SECRET_KEY must be set to a random value of at least 32 characters in prod"
            )
        return self

    @model_validator(mode="after")
    def _check_metrics_token(self) -> Settings:
        token = self.metrics_token.get_secret_value() if self.metrics_token is not None else None
        if self.metrics == "token" and not token:
            raise ValueError(
                "JIFEN_METRICS=token needs JIFEN_METRICS_TOKEN (a random value of at least 16 characters, "
                "e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if token is not None and len(token) < MIN_METRICS_TOKEN_LENGTH:
            raise ValueError(
                "JIFEN_METRICS_TOKEN must be a random value of at least "
                f"{MIN_METRICS_TOKEN_LENGTH} characters"
            )
        return self

    @property
    def metrics_mode(self) -> Literal["off", "on", "token"]:
        """Whether GET /metrics answers: off (404), on (to anyone who reaches it) or token (Bearer)."""
        if self.metrics is not None:
            return self.metrics
        if self.metrics_token is not None:
            return "token"
        return "off" if self.env == "prod" else "on"

    @property
    def signing_key(self) -> str:
        """The key tokens and session cookies are signed with (always resolved by the validator)."""
        assert self.secret_key is not None
        return self.secret_key.get_secret_value()

    @property
    def observed_max_age(self) -> timedelta:
        return timedelta(days=self.observed_max_age_days)

    @property
    def docs_visible(self) -> bool:
        return self.env != "prod" or self.public_docs

    @property
    def log_json(self) -> bool:
        return self.env == "prod"


@lru_cache
def get_settings() -> Settings:
    return Settings()
