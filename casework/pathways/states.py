"""Pathways for the treatment arm: the states and the one transition table
(DESIGN.md "Pathways (treatment arm only)"). Pure: the standard library and
dateutil's calendar arithmetic.

Each allowed move names who may make it, what it needs, and the reasons
that may be given. Anything not in the table is refused with a sentence a
caseworker understands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from dateutil.relativedelta import relativedelta

from casework.dates import long_date
from casework.words import listed


class Pathway(StrEnum):
    AWAITING_OFFER = "awaiting_offer"
    ENGAGED = "engaged"
    AT_RISK_MONITORING = "at_risk_monitoring"
    DISRUPTION = "disruption"
    EXITED = "exited"

    @property
    def label(self) -> str:
        return {
            "awaiting_offer": "Awaiting offer", "engaged": "Engaged",
            "at_risk_monitoring": "At-risk monitoring", "disruption": "Disruption",
            "exited": "Exited",
        }[self.value]


class Authority(StrEnum):
    CASEWORKER = "caseworker"      # a caseworker (or lead) records the move
    LEAD_APPROVAL = "lead_approval"  # a caseworker proposes; a lead approves or rejects
    LEAD = "lead"                  # a lead decides it themselves


# Why someone leaves the programme (DESIGN.md).
EXIT_REASONS: dict[str, str] = {
    "completed": "Completed the programme",
    "moved_away": "Moved away",
    "custody": "In custody",
    "withdrew": "Withdrew",
    "died": "Died",
    "other": "Other",
}

# Completion follows 3 to 6 months of support; earlier is not a completion.
# Calendar months: engaged on 1 February, completing on 1 May (89 days)
# follows 3 months; engaged on 1 July, completing on 30 September (91 days)
# does not. Engaged on 30 November, 3 months on is 28 February (a shorter
# month's last day).
COMPLETION_MINIMUM = relativedelta(months=3)


@dataclass(frozen=True)
class Move:
    """One allowed transition: who may make it and what it needs."""

    reason: str | None            # the fixed reason recorded with the move
    authority: Authority = Authority.CASEWORKER
    needs_rationale: bool = False
    needs_exit_reason: bool = False


P = Pathway
EXIT = Move(None, needs_exit_reason=True)

TRANSITIONS: dict[tuple[Pathway, Pathway], Move] = {
    (P.AWAITING_OFFER, P.ENGAGED): Move("Accepted at first meeting"),
    (P.AWAITING_OFFER, P.AT_RISK_MONITORING): Move("Offered, not accepted"),
    (P.AWAITING_OFFER, P.EXITED): EXIT,
    (P.ENGAGED, P.AT_RISK_MONITORING): Move("Disengaged"),
    (P.ENGAGED, P.DISRUPTION): Move("Criminally active and not engaging",
                                    Authority.LEAD_APPROVAL, needs_rationale=True),
    (P.ENGAGED, P.EXITED): EXIT,
    (P.AT_RISK_MONITORING, P.ENGAGED): Move("Accepted support"),
    (P.AT_RISK_MONITORING, P.DISRUPTION): Move("Criminally active and not engaging",
                                               Authority.LEAD_APPROVAL, needs_rationale=True),
    (P.AT_RISK_MONITORING, P.EXITED): EXIT,
    (P.DISRUPTION, P.ENGAGED): Move("Accepted support (the door stays open)"),
    (P.DISRUPTION, P.AT_RISK_MONITORING): Move("Lead decision", Authority.LEAD,
                                               needs_rationale=True),
    (P.DISRUPTION, P.EXITED): EXIT,
    (P.EXITED, P.ENGAGED): Move("Reopened by a lead", Authority.LEAD, needs_rationale=True),
    (P.EXITED, P.AT_RISK_MONITORING): Move("Reopened by a lead", Authority.LEAD,
                                           needs_rationale=True),
}


class InvalidTransition(Exception):
    """A pathway move the table does not allow, or allows only with more."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


def targets(current: Pathway, *, is_lead: bool = True,
            proposing: bool = True) -> list[Pathway]:
    """Where a person on ``current`` may move, in the table's order; for
    someone not a lead, without the moves only a lead makes; not
    ``proposing`` (a proposal of theirs waits for a lead, and a second is
    refused), without the moves a lead must approve."""
    return [to for (frm, to), move in TRANSITIONS.items()
            if frm == current and (is_lead or move.authority != Authority.LEAD)
            and (proposing or move.authority != Authority.LEAD_APPROVAL)]


def needs_approval(current: str, target: str | None) -> bool:
    """Whether moving from ``current`` to ``target`` (as sent: perhaps no
    pathway at all) is a proposal a lead approves."""
    move = TRANSITIONS.get((current, target))
    return move is not None and move.authority == Authority.LEAD_APPROVAL


def transition(current: Pathway, target: Pathway, *, is_lead: bool,
               rationale: str | None = None, exit_reason: str | None = None,
               current_since: date | None = None, effective: date | None = None) -> Move:
    """Check a move from ``current`` to ``target``; return its table entry.

    Raises InvalidTransition naming what is wrong: a move not in the table,
    a lead-only move by a caseworker, a missing rationale or exit reason, or
    a completion before three months of engagement.
    """
    current, target = Pathway(current), Pathway(target)
    move = TRANSITIONS.get((current, target))
    if move is None:
        if current == target:
            raise InvalidTransition(f"The person is already on {current.label.lower()}",
                                    "target")
        raise InvalidTransition(
            f"A person on {current.label.lower()} cannot move to {target.label.lower()}"
            + (f"; they can move to {_names(targets(current))}" if targets(current) else ""),
            "target")
    if move.authority == Authority.LEAD and not is_lead:
        raise InvalidTransition(
            f"Only a lead can move a person from {current.label.lower()} to "
            f"{target.label.lower()}", "target")
    if move.needs_rationale and not (rationale or "").strip():
        raise InvalidTransition("Give a rationale for this move", "rationale")
    if move.needs_exit_reason:
        if exit_reason not in EXIT_REASONS:
            raise InvalidTransition("Select why the person is leaving the programme",
                                    "exit_reason")
        if exit_reason == "completed":
            if current != Pathway.ENGAGED:
                raise InvalidTransition("Only an engaged person can complete the programme",
                                        "exit_reason")
            if current_since and effective and effective < current_since + COMPLETION_MINIMUM:
                raise InvalidTransition(
                    f"Completion follows at least 3 months of support; engaged since "
                    f"{long_date(current_since)}", "exit_reason")
    return move


def _names(pathways: list[Pathway]) -> str:
    return listed([p.label.lower() for p in pathways], "or")


def date_problem(effective: date | None, *, today: date, randomised_on: date,
                 previous_change: date | None) -> str | None:
    """An episode's effective date: not in the future, not before
    randomisation, not before the previous change."""
    if effective is None:
        return "Enter the date the move took effect"
    if effective > today:
        return "The date cannot be in the future"
    if effective < randomised_on:
        return f"The date cannot be before randomisation ({long_date(randomised_on)})"
    if previous_change and effective < previous_change:
        return f"The date cannot be before the previous change ({long_date(previous_change)})"
    return None

