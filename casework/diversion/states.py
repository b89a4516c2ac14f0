"""The diversion case workflow (DESIGN.md "Checkpoint and Outcome 22
eligibility"): one StrEnum and one transition table. Pure standard library.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum


class CaseStatus(StrEnum):
    OFFERED = "offered"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return self.value.capitalize()


# offered → active → completed (the closing outcome code) or failed
# (re-referred to police); an offered or active case can be withdrawn.
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.OFFERED: frozenset({CaseStatus.ACTIVE, CaseStatus.WITHDRAWN}),
    CaseStatus.ACTIVE: frozenset({CaseStatus.COMPLETED, CaseStatus.FAILED,
                                  CaseStatus.WITHDRAWN}),
    CaseStatus.COMPLETED: frozenset(),
    CaseStatus.FAILED: frozenset(),
    CaseStatus.WITHDRAWN: frozenset(),
}


class InvalidTransition(Exception):
    """A step the diversion workflow does not allow."""

    def __init__(self, current: CaseStatus, target: CaseStatus):
        self.current, self.target = current, target
        super().__init__(f"A case that is {current.label.lower()} cannot be "
                         f"{target.label.lower()}")


def transition(current: CaseStatus, target: CaseStatus) -> CaseStatus:
    current, target = CaseStatus(current), CaseStatus(target)
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(current, target)
    return target


def due_date(started: date, weeks: int) -> date:
    return started + timedelta(weeks=weeks)


def is_overdue(status: CaseStatus, due: date | None, today: date) -> bool:
    """An active case past its due date."""
    return status == CaseStatus.ACTIVE and due is not None and today > due
