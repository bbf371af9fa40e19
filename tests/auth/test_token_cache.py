"""An access token's signature is checked once per process (auth/tokens.py): every later use still expires
with the token, and is taken as verified only under the key that verified it."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jifen.auth import browser, tokens
from jifen.settings import Settings


def _settings(tmp_path: Path, secret: str) -> Settings:
    return Settings(_env_file=None, env="test", data_dir=tmp_path, secret_key=secret)


def _count_checks(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[str]:
    """Every signature check `module` makes from now on."""
    checked: list[str] = []
    verify = module.verified

    def counted(*args: Any) -> Any:
        checked.append("verified")
        return verify(*args)

    monkeypatch.setattr(module, "verified", counted)
    return checked


def test_a_verified_token_is_remembered_until_it_expires_and_only_under_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, "k" * 48)
    other = _settings(tmp_path, "o" * 48)
    user = uuid.uuid4()
    token = tokens.sign(settings, user, 3, "access", timedelta(seconds=60))
    assert tokens.read_token(settings, token) == tokens.TokenSubject(user, 3)
    assert tokens.read_token(other, token) is None  # another key: verified anew, and refused

    checked = _count_checks(monkeypatch, tokens)
    assert tokens.read_token(settings, token) == tokens.TokenSubject(user, 3)
    assert checked == []  # remembered: no second signature check

    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert tokens.read_token(settings, tampered) is None

    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 61)
    assert tokens.read_token(settings, token) is None  # expired, remembered or not


def test_a_verified_session_cookie_is_remembered_until_it_expires_and_only_under_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, "k" * 48)
    other = _settings(tmp_path, "o" * 48)
    user = uuid.uuid4()
    cookie = tokens.sign(settings, user, 2, "web", timedelta(seconds=60), csrf="c")
    assert browser._decode(settings, cookie) == browser.WebSession(user, 2, "c")
    assert browser._decode(other, cookie) is None  # another key: verified anew, and refused
    access = tokens.sign(settings, user, 2, "access", timedelta(seconds=60), csrf="c")
    assert browser._decode(settings, access) is None  # not a session cookie

    checked = _count_checks(monkeypatch, tokens)  # the cookie is verified there too (VerifiedTokens.read)
    assert browser._decode(settings, cookie) == browser.WebSession(user, 2, "c")
    assert checked == []  # remembered: no second signature check

    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 61)
    assert browser._decode(settings, cookie) is None  # expired, remembered or not
