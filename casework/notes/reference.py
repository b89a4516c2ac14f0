"""Notes and contacts: kinds, contact types, limits, and when a treated
person's contact is overdue (DESIGN.md "Notes and contacts", "Pathways").

Pure standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class NoteKind(StrEnum):
    CASE_NOTE = "case_note"
    CONTACT = "contact"
    DECISION = "decision"

    @property
    def label(self) -> str:
        return {"case_note": "Case note", "contact": "Contact",
                "decision": "Decision"}[self.value]


CONTACT_TYPES: dict[str, str] = {
    "face_to_face": "Face to face",
    "phone": "Phone",
    "video": "Video",
    "family": "Family",
    "careers": "Careers",
    "mentoring": "Mentoring",
}

MAX_BODY_LENGTH = 10_000
MAX_REASON_LENGTH = 1_000

# DESIGN.md: engaged with no contact for 14 days, at-risk monitoring with
# none for 28 days, are overdue (configurable: see casework/config.py).
DEFAULT_CONTACT_DAYS = {"engaged": 14, "at_risk_monitoring": 28}


@dataclass(frozen=True)
class Overdue:
    days_since: int      # days since the clock started
    threshold: int       # the pathway's expectation in days
    last_contact: date | None

    @property
    def days_over(self) -> int:
        return self.days_since - self.threshold


def overdue(pathway: str, pathway_since: date, last_attended_contact: date | None,
            today: date, thresholds: dict[str, int]) -> Overdue | None:
    """Whether a person's contact is overdue, and by how much.

    The clock runs from the later of the last attended contact and the day
    the person joined their current pathway (a person moved to engaged today
    is not overdue for the old pathway's gaps). Pathways without an
    expectation (awaiting offer, disruption, exited) are never overdue.
    """
    threshold = thresholds.get(pathway)
    if threshold is None:
        return None
    started = max(pathway_since, last_attended_contact or pathway_since)
    days = (today - started).days
    if days <= threshold:
        return None
    return Overdue(days, threshold, last_attended_contact)
