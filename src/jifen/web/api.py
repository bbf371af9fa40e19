"""The pages' way into jifen: the JSON API, called in-process as the signed-in user.

The request carries the browser's address (the login throttle and the audit trail see the real client) and
its request id (one id in the logs for the page and the calls it made).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import Request

from jifen.auth.tokens import issue_token
from jifen.kit import faults, validation
from jifen.settings import Settings

API_BASE = "http://jifen.internal/api/v1"


@dataclass
class ApiResult:
    status: int
    body: Any
    content_type: str = "application/json"

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) and not self.ok else None

    @property
    def detail(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("detail") or "操作没有完成，请重试")
        return "操作没有完成，请重试"

    def field_errors(self, prefix: str = "") -> dict[str, str]:
        """422 errors by field name (the part after `prefix`), in Chinese, for showing next to the field."""
        out: dict[str, str] = {}
        if self.status != 422 or not isinstance(self.body, dict):
            return out
        for err in self.body.get("errors", []):
            name = validation.field_of(err)
            if prefix and name.startswith(prefix):
                name = name[len(prefix) :]
            out.setdefault(name or "_", err.get("message") or validation.message(err))
        return out


@dataclass
class Api:
    request: Request
    user_id: uuid.UUID | None
    credential_version: int = 0  # the session cookie's: a stale one gets 401 from every call
    _token: str | None = field(default=None, init=False)

    @property
    def settings(self) -> Settings:
        settings: Settings = self.request.app.state.settings
        return settings

    def _headers(self, idempotency_key: str | None) -> dict[str, str]:
        headers = {"accept": "application/json"}
        if self.user_id is not None:
            if self._token is None:
                self._token = issue_token(self.settings, self.user_id, self.credential_version)[0]
            headers["authorization"] = f"Bearer {self._token}"
        request_id = getattr(self.request.state, "request_id", None)
        if request_id:
            headers["x-request-id"] = request_id
        if idempotency_key:
            headers["idempotency-key"] = idempotency_key
        return headers

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: dict[str, Any] | None = None,
        files: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> ApiResult:
        client = self.request.client
        transport = httpx.ASGITransport(
            app=self.request.app, client=(client.host, client.port) if client else ("127.0.0.1", 0)
        )
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        async with httpx.AsyncClient(transport=transport, base_url=API_BASE) as http:
            response = await http.request(
                method,
                path,
                json=json,
                data=data,
                files=files,
                params=clean,
                headers=self._headers(idempotency_key),
            )
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            body = response.json()
            fault = faults.BY_CODE.get(str(body.get("error"))) if isinstance(body, dict) else None
            if response.status_code == 503 and fault is not None:
                raise fault()  # no page can go on without its database: the 503 page says why
            return ApiResult(response.status_code, body, content_type)
        return ApiResult(response.status_code, response.content, content_type)

    async def get(self, path: str, **params: Any) -> ApiResult:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, json: Any = None, *, key: str | None = None) -> ApiResult:
        return await self.call("POST", path, json=json, idempotency_key=key)
