"""How a notice leaves jifen: a signed webhook, or an SMS through a provider behind `SmsSender`.

Webhook: `POST url` with the event as JSON; headers `X-Jifen-Event-Id` (the receiver drops a repeat by it,
the body carries it too), `X-Jifen-Timestamp` (Unix seconds) and `X-Jifen-Signature: sha256=<hex>`, the
HMAC-SHA256 with the webhook's secret over `<timestamp>.<raw body>` (the body's bytes exactly as sent).
A receiver recomputes it (`signature`) and refuses a stale timestamp. Any 2xx is delivered; anything else,
a timeout or a refused connection is a failed attempt.

SMS: `AliyunSms` speaks Alibaba Cloud's SendSms (RPC style, version 2017-05-25: sorted, percent-encoded
parameters signed with HMAC-SHA1 over `POST&%2F&<encoded query>` and the key secret plus `&`, Base64);
`FakeSms` records what it was asked to send, for tests and the demo village."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx


class SendFailed(Exception):
    """The channel did not take the notice (the message says why, for the dead-letter view)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Jifen-Signature` value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, tolerance: float = 300) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    timestamp = headers.get("x-jifen-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), headers.get("x-jifen-signature", ""))


async def post_webhook(
    client: httpx.AsyncClient, url: str, secret: str, event_id: uuid.UUID, body: bytes
) -> None:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Jifen-Event-Id": str(event_id),
        "X-Jifen-Timestamp": timestamp,
        "X-Jifen-Signature": signature(secret, timestamp, body),
    }
    try:
        answer = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}"[:300]) from exc
    if not answer.is_success:
        raise SendFailed(f"HTTP {answer.status_code}: {answer.text[:200]}")


class SmsSender(Protocol):
    """An SMS provider: one template message to the phones, or SendFailed."""

    async def send(self, phones: Sequence[str], template_code: str, params: Mapping[str, str]) -> None: ...


def _percent(value: str) -> str:
    return urllib.parse.quote(value, safe="-_.~")


def rpc_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    """Alibaba Cloud's RPC signature (version 1.0): HMAC-SHA1 with `secret&` over
    `METHOD&%2F&percent(sorted, percent-encoded query)`, in Base64."""
    canonical = "&".join(f"{_percent(k)}={_percent(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&%2F&{_percent(canonical)}"
    mac = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


@dataclass
class AliyunSms:
    """Alibaba Cloud SMS (dysmsapi SendSms): a sign name, a template code and its params as JSON."""

    client: httpx.AsyncClient
    access_key_id: str
    access_key_secret: str
    sign_name: str
    endpoint: str = "https://dysmsapi.aliyuncs.com/"

    def signed_params(
        self, phones: Sequence[str], template_code: str, params: Mapping[str, str]
    ) -> dict[str, str]:
        query = {
            "AccessKeyId": self.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": ",".join(phones),
            "RegionId": "cn-hangzhou",
            "SignName": self.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": template_code,
            "TemplateParam": json.dumps(dict(params), ensure_ascii=False, separators=(",", ":")),
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        return {**query, "Signature": rpc_signature(self.access_key_secret, "POST", query)}

    async def send(self, phones: Sequence[str], template_code: str, params: Mapping[str, str]) -> None:
        form = self.signed_params(phones, template_code, params)
        try:
            answer = await self.client.post(self.endpoint, data=form)
            reply: dict[str, Any] = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SendFailed(f"短信平台无应答：{type(exc).__name__}") from exc
        if reply.get("Code") != "OK":
            raise SendFailed(f"短信平台拒绝：{reply.get('Code')} {reply.get('Message', '')}"[:300])


@dataclass
class FakeSms:
    """Remembers the messages instead of sending them (the newest `keep`, when set); `fail` makes the next N
    sends fail."""

    sent: list[tuple[tuple[str, ...], str, dict[str, str]]] = field(default_factory=list)
    fail: int = 0
    keep: int | None = None

    async def send(self, phones: Sequence[str], template_code: str, params: Mapping[str, str]) -> None:
        if self.fail > 0:
            self.fail -= 1
            raise SendFailed("模拟短信平台故障")
        self.sent.append((tuple(phones), template_code, dict(params)))
        if self.keep is not None and len(self.sent) > self.keep:
            del self.sent[0]


# the demo village's SMS channel (provider "fake"): shows delivered rows without sending anything
DEMO_SMS = FakeSms(keep=200)
