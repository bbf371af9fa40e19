"""The declarative base: stable constraint names for Alembic, UUID ids, UTC timestamps."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    MetaData,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column

from jifen.kit.periods import KINDS

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # a column declared by its annotation alone (`household_id: Mapped[uuid.UUID | None]`): a UUID, or a
    # moment with its time zone; nullable when the annotation says `| None`
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        uuid.UUID: UUID(as_uuid=True),
        datetime: DateTime(timezone=True),
    }


def uuid_pk(**kwargs: Any) -> Mapped[uuid.UUID]:
    """A row's own UUID key, made in Python when the row is."""
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4, **kwargs)


def identity_key() -> Mapped[int]:
    """A row's own ascending key, numbered by PostgreSQL (GENERATED ALWAYS AS IDENTITY)."""
    return mapped_column(BigInteger, Identity(always=True), primary_key=True)


def server_now() -> Mapped[datetime]:
    """A moment PostgreSQL writes (now()) into a row inserted without it."""
    return mapped_column(server_default=func.now())


def created_at() -> Mapped[datetime]:
    return server_now()


def village_key(**kwargs: Any) -> MappedColumn[Any]:
    """`village_id` as the first part of a village's row key, referencing the village."""
    return mapped_column(ForeignKey("villages.id"), primary_key=True, **kwargs)


def uuid_key(**kwargs: Any) -> MappedColumn[Any]:
    """A UUID part of a composite primary key (`village_id` and the row's own id, no default)."""
    return mapped_column(UUID(as_uuid=True), primary_key=True, **kwargs)


def text500() -> MappedColumn[Any]:
    """A person's free text (reason, note, memo): at most 500 characters."""
    return mapped_column(String(500))


def scoped_fk(column: str, table: str, **kwargs: Any) -> ForeignKeyConstraint:
    """`(village_id, column)` references `table(village_id, id)`: a row only points inside its own village."""
    return ForeignKeyConstraint(["village_id", column], [f"{table}.village_id", f"{table}.id"], **kwargs)


def scoped_fks(**references: str) -> tuple[ForeignKeyConstraint, ...]:
    """`scoped_fk` for each `column=table`, in the order given."""
    return tuple(scoped_fk(column, table) for column, table in references.items())


def checks(**conditions: str) -> tuple[CheckConstraint, ...]:
    """A CHECK constraint for each `name=condition`, in the order given, named `ck_<table>_<name>`."""
    return tuple(CheckConstraint(condition, name=name) for name, condition in conditions.items())


def per_period(prefix: str) -> dict[str, str]:
    """The checks of an optional "at most N per period" pair of columns, `<prefix>_count` and
    `<prefix>_period`: both or neither, a positive count, a period kit/periods.py knows (a rule's cap, an
    item's limit). Spread into `checks(...)`: named `<prefix>` and `<prefix>_period`."""
    count, period = f"{prefix}_count", f"{prefix}_period"
    kinds = ", ".join(f"'{kind}'" for kind in KINDS)
    return {
        prefix: f"({count} IS NULL) = ({period} IS NULL) AND ({count} IS NULL OR {count} > 0)",
        period: f"{period} IN ({kinds})",
    }


def any_of(column: str, values: tuple[str, ...]) -> str:
    """`column IN (values)` as PostgreSQL reads it cheapest in a CHECK: one text-array constant, not an array
    of casts (a CHECK's expression is read from its stored text once per writing statement; migrations 0016
    and 0025)."""
    return f"{column}::text = ANY ('{{{','.join(values)}}}'::text[])"


def once_per_village(*columns: str) -> UniqueConstraint:
    """`columns` are unique within a village: UNIQUE (village_id, *columns)."""
    return UniqueConstraint("village_id", *columns)


# the key columns a mixin declares come first in the table, as if the class had declared them first
class VillageRow:
    """A row a village owns outright: keyed `(village_id, id)`, `village_id` referencing the village, the id
    made in Python unless given."""

    village_id: Mapped[uuid.UUID] = village_key(sort_order=-2)
    id: Mapped[uuid.UUID] = uuid_pk(sort_order=-1)


class VillageChildRow:
    """A row under another of its village's rows: keyed `(village_id, id)`, the village reached through the
    row it belongs to, the id made in Python unless given."""

    village_id: Mapped[uuid.UUID] = uuid_key(sort_order=-2)
    id: Mapped[uuid.UUID] = uuid_pk(sort_order=-1)


def distinct_index(name: str, *columns: str) -> Index:
    """An index whose keys never repeat (they end in an id or a chain_id) but is not declared unique: btree
    deduplication could never merge two of its entries, so it is off (no dedup pass over a full page before
    every split; migration 0026)."""
    return Index(name, *columns, postgresql_with={"deduplicate_items": "off"})


def partial_index(
    name: str, *columns: str, where: str, unique: bool = False, include: tuple[str, ...] = ()
) -> Index:
    """An index (unique when asked) over only the rows `where` holds for; `include`: columns it carries
    besides its key, so that a read of them needs no visit to the table."""
    extra: dict[str, Any] = {"postgresql_include": list(include)} if include else {}
    return Index(name, *columns, unique=unique, postgresql_where=text(where), **extra)


def once_per_village_where(name: str, *columns: str, where: str, include: tuple[str, ...] = ()) -> Index:
    """`columns` are unique within a village among the rows `where` holds for (a partial unique index)."""
    return partial_index(name, "village_id", *columns, where=where, unique=True, include=include)
