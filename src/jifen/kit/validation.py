"""Validation errors in words a villager can act on: pydantic's error types rendered in Chinese.

The API's 422 body keeps pydantic's list (loc, type, msg) for programs, and its `detail` and each error's
`message` are these sentences; the pages show the same sentence next to the field it is about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

INVALID_JSON = "提交的内容不是有效的 JSON，请检查格式后重试"


def _limit(ctx: Mapping[str, Any], key: str) -> str:
    return str(ctx.get(key, ""))


def message(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "必须填写"
    if kind == "string_too_short":
        return "不能为空" if ctx.get("min_length") in (1, None) else f"至少 {_limit(ctx, 'min_length')} 个字"
    if kind == "string_too_long":
        return f"太长了，最多 {_limit(ctx, 'max_length')} 个字"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "请填写整数"
    if kind in ("float_parsing", "float_type", "decimal_parsing"):
        return "请填写数字"
    if kind == "greater_than_equal":
        return f"不能小于 {_limit(ctx, 'ge')}"
    if kind == "greater_than":
        return f"必须大于 {_limit(ctx, 'gt')}"
    if kind == "less_than_equal":
        return f"不能大于 {_limit(ctx, 'le')}"
    if kind == "less_than":
        return f"必须小于 {_limit(ctx, 'lt')}"
    if kind in ("too_short", "too_long"):
        return "条目数量不符合要求"
    if kind in ("uuid_parsing", "uuid_type"):
        return "请从列表中选择"
    if kind in ("enum", "literal_error"):
        return "请从列表中选择一项"
    if kind in ("date_parsing", "date_from_datetime_parsing", "date_type"):
        return "日期格式应为 2026-11-22"
    if kind in ("datetime_parsing", "datetime_from_date_parsing", "datetime_type"):
        return "时间格式不正确"
    if kind in ("bool_parsing", "bool_type"):
        return "请选择是或否"
    if kind == "string_pattern_mismatch":
        return "格式不正确"
    if kind == "json_invalid":
        return "请求内容不是有效的 JSON"
    if kind == "extra_forbidden":
        return "不认识的字段"
    if kind == "value_error":
        text = str(error.get("msg", ""))
        return text.removeprefix("Value error, ") or "格式不正确"
    if kind in ("model_attributes_type", "model_type", "dict_type", "list_type"):
        return "格式不正确"
    return "格式不正确"


def field_of(error: Mapping[str, Any]) -> str:
    """The dotted field path an error is about, without the leading `body`/`query` part."""
    loc = [str(part) for part in error.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path", "header", "form"):
        loc = loc[1:]
    return ".".join(loc)


def summary(errors: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        where = field_of(err)
        parts.append(f"{where}：{message(err)}" if where else message(err))
    return "请求内容不符合要求 — " + "；".join(parts)
