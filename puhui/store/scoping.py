"""Narrowing a list query to what a caller may see, as the store's queries apply it.

The services decide what a caller may see (`puhui.services.access.Principal.visibility`): a
partner its own applicants' records, a borrower its own, staff everything.  The repositories
turn that into a WHERE clause on the columns their table has for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Visibility:
    """Records whose partner (`by` "partner") or applicant (`by` "applicant") is `subject`;
    all of them when `by` is None."""

    by: str | None = None
    subject: str | None = None


EVERYTHING = Visibility()


def narrowed(query: Any, visible: Visibility, partner_column: Any, applicant_column: Any) -> Any:
    """`query` restricted to the records `visible` allows."""
    if visible.by == "partner":
        return query.where(partner_column == visible.subject)
    if visible.by == "applicant":
        return query.where(applicant_column == visible.subject)
    return query
