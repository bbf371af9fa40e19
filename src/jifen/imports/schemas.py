from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ColumnOut(BaseModel):
    column: str = Field(description="the column as Excel names it: A, B, … AA")
    header: str | None = Field(description="the header cell as written in the file")
    field: str | None = Field(
        description="what jifen takes the column for: code (户号), head_name (户主), name (姓名), relation "
        "(与户主关系), population (人口), phone (电话), grid (组/网格), address (住址); null: ignored"
    )
    label: str | None = Field(description="the field in Chinese")
    sure: bool = Field(description="false: a guess from part of the header, or picked twice; please confirm")


class TableOut(BaseModel):
    number: int = Field(description="1 for the file's first table; prefix a column with it to pick: `2:C`")
    sheet: str
    header_row: int = Field(description="the row the header was found on (title rows above it are skipped)")
    kind: Literal["households", "members"] = Field(
        description="households: one row per household; members: one row per person (户号, 姓名, 与户主关系)"
    )
    columns: list[ColumnOut]
    missing: list[str] = Field(description="columns jifen needs and did not find (pick them)")


class HouseholdLine(BaseModel):
    sheet: str
    row: int
    code: str
    head_name: str | None
    grid: str | None
    members: int = Field(description="members on the file's rows")


class ChangeLine(BaseModel):
    sheet: str
    row: int
    code: str
    head_name: str | None
    changes: list[str] = Field(description="what changes, in Chinese: 电话 138… → 170…")


class RefusedRow(BaseModel):
    sheet: str
    row: int
    code: str | None
    reasons: list[str] = Field(description="why the row is not imported, in Chinese")


class ImportCounts(BaseModel):
    rows: int = Field(description="data rows read")
    add: int
    change: int
    unchanged: int
    refused: int = Field(description="rows refused")


class ImportResult(BaseModel):
    file_name: str
    sha256: str = Field(description="the file's SHA-256, recorded in the audit event of the import")
    applied: bool = Field(description="true: the good rows were written (all at once); false: a dry run")
    columns_understood: bool = Field(
        description="false: a needed column is missing or a column is a guess; pick columns with `columns`"
    )
    tables: list[TableOut]
    counts: ImportCounts
    add: list[HouseholdLine]
    change: list[ChangeLine]
    refused: list[RefusedRow]
