"""The household roll import: a dry run that says what the file would do to the village's roll, and the
confirm that does exactly that, all good rows in one transaction, with one audit event carrying the file's
SHA-256.

Households are matched by 户号, members within a household by name. A cell left empty keeps what is stored
(a roll without phones does not wipe the phones); members missing from the file stay. So importing the same
file twice changes nothing the second time, and a file with one changed phone changes one member.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.imports import repository
from jifen.imports.reading import read_sheets
from jifen.imports.repository import StoredHousehold, StoredMember
from jifen.imports.roll import (
    LABELS,
    BadRow,
    HouseholdRow,
    MemberRow,
    Roll,
    find_tables,
    read_roll,
    sort_refused,
)
from jifen.imports.schemas import (
    ChangeLine,
    ColumnOut,
    HouseholdLine,
    ImportCounts,
    ImportResult,
    RefusedRow,
    TableOut,
)
from jifen.kit.errors import BadRequest
from jifen.kit.logging import mask_phone
from jifen.models import VillageView


class ColumnsNotUnderstood(
    BadRequest,
    code="columns_not_understood",
    detail="没有找到户号、户主等必需的列：请在预览中为每一列选择含义后再导入",
): ...


class NothingToImport(
    BadRequest,
    code="nothing_to_import",
    detail="文件中没有找到花名册：表头需要有“户号”和“户主”（或“姓名”“与户主关系”）等列",
): ...


@dataclass
class Change:
    row: HouseholdRow
    stored: StoredHousehold
    fields: dict[str, str | int] = field(default_factory=dict)
    member_updates: list[tuple[StoredMember, MemberRow]] = field(default_factory=list)
    member_adds: list[MemberRow] = field(default_factory=list)

    def describe(self, phone: Callable[[str | None], str | None]) -> list[str]:
        labels = {"head_name": "户主", "grid": "网格", "address": "住址", "population": "人口"}
        lines = [
            f"{labels[name]}：{getattr(self.stored, name) or '（空）'} → {value}"
            for name, value in self.fields.items()
        ]
        for stored, member in self.member_updates:
            if member.phone is not None and member.phone != stored.phone:
                was = phone(stored.phone) or "（空）"
                lines.append(f"{stored.name}的电话：{was} → {phone(member.phone)}")
            if member.relation is not None and member.relation != stored.relation:
                lines.append(f"{stored.name}与户主关系：{stored.relation or '（空）'} → {member.relation}")
        lines += [f"新增成员：{m.name}（{m.relation or '成员'}）" for m in self.member_adds]
        return lines


@dataclass
class Plan:
    roll: Roll
    add: list[HouseholdRow] = field(default_factory=list)
    change: list[Change] = field(default_factory=list)
    unchanged: list[HouseholdRow] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)


def understand(data: bytes, file_name: str, *, overrides: Mapping[str, str], fixed_grids: list[str]) -> Roll:
    tables = find_tables(read_sheets(data, file_name), overrides)
    return read_roll(tables, fixed_grids=frozenset(fixed_grids))


def plan(roll: Roll, stored: dict[str, StoredHousehold]) -> Plan:
    """What the roll does to the stored households: add, change, leave, refuse."""
    result = Plan(roll=roll, bad=list(roll.bad))
    for household in roll.households.values():
        before = stored.get(household.code)
        if before is None:
            if household.head_name is None:
                result.bad.append(
                    BadRow(
                        household.sheet,
                        household.row,
                        household.code,
                        [f"户号 {household.code} 不在本村的花名册中，文件里也没有这一户的户主行"],
                    )
                )
            else:
                result.add.append(household)
            continue
        change = Change(row=household, stored=before)
        for name in ("head_name", "grid", "address", "population"):
            value = getattr(household, name)
            if value is not None and value != getattr(before, name):
                change.fields[name] = value
        for member in household.members:
            same = before.members.get(member.name)
            if same is None:
                change.member_adds.append(member)
            elif (member.phone is not None and member.phone != same.phone) or (
                member.relation is not None and member.relation != same.relation
            ):
                change.member_updates.append((same, member))
        if change.fields or change.member_updates or change.member_adds:
            result.change.append(change)
        else:
            result.unchanged.append(household)
    sort_refused(result.bad, roll.tables)
    return result


def _result(plan: Plan, *, file_name: str, sha256: str, applied: bool) -> ImportResult:
    roll = plan.roll
    tables = [
        TableOut(
            number=t.number,
            sheet=t.sheet,
            header_row=t.header_row,
            kind="members" if t.kind == "members" else "households",
            columns=[
                ColumnOut(
                    column=c.letter,
                    header=c.header,
                    field=c.field.value if c.field else None,
                    label=LABELS[c.field] if c.field else None,
                    sure=c.sure,
                )
                for c in t.columns
            ],
            missing=[LABELS[f] for f in t.missing],
        )
        for t in roll.tables
    ]
    return ImportResult(
        file_name=file_name,
        sha256=sha256,
        applied=applied,
        columns_understood=not roll.unsure,
        tables=tables,
        counts=ImportCounts(
            rows=roll.rows,
            add=len(plan.add),
            change=len(plan.change),
            unchanged=len(plan.unchanged),
            refused=len(plan.bad),
        ),
        add=[
            HouseholdLine(
                sheet=h.sheet,
                row=h.row,
                code=h.code,
                head_name=h.head_name,
                grid=h.grid,
                members=len(h.members),
            )
            for h in plan.add
        ],
        change=[
            ChangeLine(
                sheet=c.row.sheet,
                row=c.row.row,
                code=c.row.code,
                head_name=c.stored.head_name,
                changes=c.describe(lambda p: p),
            )
            for c in plan.change
        ],
        refused=[RefusedRow(sheet=b.sheet, row=b.row, code=b.code, reasons=b.reasons) for b in plan.bad],
    )


async def import_households(
    session: AsyncSession,
    actor: Actor,
    village: VillageView,
    *,
    data: bytes,
    file_name: str,
    overrides: Mapping[str, str] | None = None,
    apply: bool = False,
) -> ImportResult:
    """A dry run (nothing written) or, with `apply`, every good row written at once."""
    sha256 = hashlib.sha256(data).hexdigest()
    roll = understand(data, file_name, overrides=overrides or {}, fixed_grids=list(village.grids or []))
    if not roll.tables:
        raise NothingToImport()
    if apply:
        if any(t.missing for t in roll.tables):
            raise ColumnsNotUnderstood(
                f"没有找到必需的列：{'、'.join(roll.missing)}。请在预览中为这些列选择含义后再导入"
            )
        await repository.lock_roll(session, village.id)
    outcome = plan(roll, await repository.stored_households(session, village.id))
    changed = bool(outcome.add or outcome.change)
    if apply and changed:
        await _write(session, village.id, outcome)
        await audit.record(
            session,
            actor,
            village_id=village.id,
            action="household.import",
            record_type="village",
            record_id=village.id,
            after={
                "file_name": file_name,
                "sha256": sha256,
                "rows": roll.rows,
                "added": [h.code for h in outcome.add],
                "changed": {c.row.code: c.describe(mask_phone) for c in outcome.change},
                "unchanged": len(outcome.unchanged),
                "refused": [{"row": b.row, "sheet": b.sheet, "code": b.code} for b in outcome.bad],
            },
        )
    return _result(outcome, file_name=file_name, sha256=sha256, applied=apply and changed)


async def _write(session: AsyncSession, village_id: uuid.UUID, outcome: Plan) -> None:
    new_ids = [uuid.uuid4() for _ in outcome.add]
    await repository.insert_households(session, village_id, list(zip(new_ids, outcome.add, strict=True)))
    members: list[tuple[uuid.UUID, MemberRow]] = [
        (household_id, m) for household_id, h in zip(new_ids, outcome.add, strict=True) for m in h.members
    ]
    members += [(c.stored.id, m) for c in outcome.change for m in c.member_adds]
    await repository.insert_members(session, village_id, members)
    await repository.update_households(
        session, village_id, [(c.stored.id, c.fields) for c in outcome.change if c.fields]
    )
    await repository.update_members(
        session,
        village_id,
        [(stored.id, row.phone, row.relation) for c in outcome.change for stored, row in c.member_updates],
    )
