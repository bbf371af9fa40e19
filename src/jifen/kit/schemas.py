"""Shared field types: what a code, a name or a phone number may look like."""

from __future__ import annotations

from typing import Annotated

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


class InputModel(BaseModel):
    """Request bodies refuse fields they do not know, so a typo is an error and not a silent default."""

    model_config = ConfigDict(extra="forbid")
