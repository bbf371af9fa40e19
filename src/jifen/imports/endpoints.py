from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from starlette.datastructures import UploadFile as Upload

from jifen.auth.households import VillageAdmin
from jifen.imports import service
from jifen.imports.reading import TooManyRows, UnsupportedFile
from jifen.imports.samples import template_xlsx
from jifen.imports.schemas import ImportResult
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import READ_ERRORS
from jifen.kit.errors import BadRequest, Forbidden, JifenError, NotAuthenticated, NotFound, error_responses
from jifen.kit.limits import BodyLimit, body_limit, size_text
from jifen.settings import Settings

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROLL_MAX_BYTES = 16 * 1024 * 1024  # a 20,000-household roll is about 1 MB as .xlsx, 1.5 MB as .csv
CHUNK = 64 * 1024


class RollTooLarge(
    JifenError,
    code="too_large",
    status=413,
    detail=f"文件太大，不能超过 {size_text(ROLL_MAX_BYTES)}，请分成几个文件导入",
): ...


class InvalidColumns(
    BadRequest,
    code="invalid_columns",
    detail='列的选择格式不正确：应为 JSON 对象，如 {"A": "code", "2:C": "relation", "D": ""}',
): ...


def roll_limit(_: Settings) -> BodyLimit:
    return BodyLimit(ROLL_MAX_BYTES + 64 * 1024, RollTooLarge.default_detail)


router = APIRouter(tags=["imports"], route_class=AutoCommitRoute)


async def read_upload(upload: Upload) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > ROLL_MAX_BYTES:
            raise RollTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def parse_columns(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidColumns() from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= 8 for k, v in value.items()
    ):
        raise InvalidColumns()
    return value


@router.post(
    "/villages/{village_id}/imports/households",
    response_model=ImportResult,
    responses=error_responses(
        NotAuthenticated,
        Forbidden,
        NotFound,
        UnsupportedFile,
        TooManyRows,
        InvalidColumns,
        service.NothingToImport,
        service.ColumnsNotUnderstood,
        RollTooLarge,
    ),
)
@body_limit(roll_limit)
async def import_households(
    access: VillageAdmin,
    session: Session,
    file: Annotated[UploadFile, File(description="the roll (花名册): .xlsx, or .csv in UTF-8 or GBK")],
    apply: Annotated[
        bool,
        Query(
            description="false (the default): a dry run that writes nothing and says what the file would do; "
            "true: write every good row at once (bad rows are left out and listed); the same file again "
            "changes nothing"
        ),
    ] = False,
    columns: Annotated[
        str | None,
        Form(
            description='the column picker\'s choices as a JSON object: column ("A", or "2:C" for the second '
            'table) → field (code, head_name, name, relation, population, phone, grid, address; "" ignores '
            "the column)"
        ),
    ] = None,
) -> ImportResult:
    """花名册导入: households matched by 户号 (added or changed), members by name within a household.
    One row per household (户号, 户主, 人口, 电话, 组/网格, 住址) and/or one row per person (户号, 姓名,
    与户主关系, 电话) in the same or a second sheet; title rows above the header are skipped. Every refused
    row comes back with its row number and reasons. Village admin (and the town admin)."""
    data = await read_upload(file)
    return await service.import_households(
        session,
        access.actor,
        access.village,
        data=data,
        file_name=(file.filename or "花名册")[:200],
        overrides=parse_columns(columns),
        apply=apply,
    )


@router.get(
    "/villages/{village_id}/imports/households/template",
    response_class=Response,
    responses={
        200: {"content": {XLSX: {}}, "description": "the roll template with example rows"},
        **error_responses(*READ_ERRORS),
    },
)
async def household_template(access: VillageAdmin) -> Response:
    """花名册模板: the columns the import reads, with three example households and their members."""
    return template_download()


def template_download() -> Response:
    return Response(
        template_xlsx(),
        media_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote('花名册模板.xlsx')}"},
    )
