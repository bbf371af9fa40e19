"""Configuration: one pydantic-settings class, read from the environment (prefix JIFEN_) or .env."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "jifen-dev-secret-change-me-0000000000000000"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIFEN_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    # The URL the service connects with. Unset: jifen starts its embedded PostgreSQL under data_dir.
    database_url: str | None = None
    # The URL migrations run with (the schema owner); defaults to database_url.
    migrate_database_url: str | None = None
    data_dir: Path = Path("var")
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    token_ttl_seconds: int = Field(default=1800, ge=60, le=86400)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    log_level: str = "INFO"
    log_requests: bool = True
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

    @model_validator(mode="after")
    def _enforce_non_default_secrets(self) -> Settings:
        if self.env == "prod":
            secret = self.secret_key.get_secret_value()
            if secret == DEFAULT_SECRET or len(secret) < 32:
                raise ValueError(
                    "JIFEN_SECRET_KEY must be set to a random value of at least 32 characters in prod"
                )
        return self

    @property
    def docs_visible(self) -> bool:
        return self.env != "prod" or self.public_docs

    @property
    def log_json(self) -> bool:
        return self.env == "prod"


@lru_cache
def get_settings() -> Settings:
    return Settings()
