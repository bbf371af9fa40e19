"""Shared field types: what a code, a name or a phone number may look like."""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints

Code = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
    ),
]
# printable text: no control characters (PostgreSQL refuses NUL; the rest only hides in a printout)
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=PRINTABLE)
]
Grid = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=PRINTABLE)
]
Address = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=PRINTABLE)
]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 \-]{4,18}$")]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=PRINTABLE)
]


M = TypeVar("M", bound=BaseModel)


def out_of(model: type[M], row: object, **computed: object) -> M:
    """`row` (a repository's row, an ORM object) as the answer `model`: every field the two share by name is
    read from the row; `computed` gives the others, or replaces one the row has under that name."""
    shared = {
        name: getattr(row, name) for name in model.model_fields if name not in computed and hasattr(row, name)
    }
    return model.model_validate(shared | computed)


class InputModel(BaseModel):
    """Request bodies refuse fields they do not know, so a typo is an error and not a silent default."""

    model_config = ConfigDict(extra="forbid")
