from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, HttpUrl, UrlConstraints

# the column holds 500 characters
Url = Annotated[HttpUrl, UrlConstraints(max_length=500)]


class WebhookIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="what the admin calls it (e.g. 村务群机器人)")
    url: Url = Field(description="where events are POSTed (http or https)")
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="the HMAC-SHA256 signing secret; omitted: jifen makes one and answers it once",
    )
    enabled: bool = True


class WebhookChange(BaseModel):
    enabled: bool


class WebhookOut(BaseModel):
    id: uuid.UUID
    village_id: uuid.UUID
    name: str
    url: str
    enabled: bool
    created_at: datetime
    secret: str | None = Field(default=None, description="only in the answer that created the webhook")


class DeadLetterOut(BaseModel):
    event_id: uuid.UUID
    channel_id: uuid.UUID
    channel_name: str
    kind: str
    household_code: str | None
    attempts: int
    last_error: str | None
    dead_at: datetime
    created_at: datetime


class RetryOut(BaseModel):
    event_id: uuid.UUID
    channel_id: uuid.UUID
    status: str = Field(description="`waiting`: due again now, with a fresh count of attempts")


class SmsChannelIn(BaseModel):
    """An Alibaba Cloud SMS account (短信服务): the sign name and template approved there."""

    name: str = Field(default="短信通知", min_length=1, max_length=64)
    access_key_id: str = Field(min_length=1, max_length=100)
    access_key_secret: str = Field(min_length=1, max_length=200)
    sign_name: str = Field(min_length=1, max_length=32, description="短信签名, as approved by the provider")
    template_code: str = Field(
        min_length=1,
        max_length=32,
        description="the template used for every kind of notice; its params: name (the masked head), "
        "content (the whole Chinese text), rule, points, amount, until, outcome, store, code, total, "
        "receipt, balance",
    )
    templates: dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=32)]] = Field(
        default_factory=dict,
        max_length=20,
        description="a template code per event kind (e.g. `pickup.issued`), if approved",
    )
    endpoint: Url = HttpUrl("https://dysmsapi.aliyuncs.com/")


class SmsChannelOut(BaseModel):
    id: uuid.UUID
    village_id: uuid.UUID
    name: str
    enabled: bool
    created_at: datetime
