"""The shape every eligibility scheme answers in (CIRV, Checkpoint, Outcome 22).

Each criterion gives pass, fail or unknown with one sentence a person can
read; any fail makes the result ineligible, otherwise any unknown makes it
needs review, otherwise eligible. Pure standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 (not a password)
    FAIL = "fail"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return {"pass": "Met", "fail": "Not met", "unknown": "Not known"}[self.value]


class Result(StrEnum):
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    NEEDS_REVIEW = "needs_review"

    @property
    def label(self) -> str:
        return {"eligible": "Eligible", "ineligible": "Ineligible",
                "needs_review": "Needs review"}[self.value]


@dataclass(frozen=True)
class CriterionResult:
    id: str
    title: str
    outcome: Outcome
    reason: str

    def to_dict(self) -> dict:
        return {"id": self.id, "outcome": str(self.outcome), "reason": self.reason}


@dataclass(frozen=True)
class Assessment:
    scheme: str
    ruleset_version: str
    criteria: tuple[CriterionResult, ...]

    @property
    def result(self) -> Result:
        return combine(c.outcome for c in self.criteria)

    def criterion(self, criterion_id: str) -> CriterionResult:
        return next(c for c in self.criteria if c.id == criterion_id)

    def to_dict(self) -> dict:
        """The stable output of ``flask eligibility assess`` (DESIGN.md)."""
        return {
            "scheme": self.scheme,
            "ruleset_version": self.ruleset_version,
            "result": str(self.result),
            "criteria": [c.to_dict() for c in self.criteria],
        }


def combine(outcomes) -> Result:
    """Any fail → ineligible; otherwise any unknown → needs review; else eligible."""
    outcomes = list(outcomes)
    if Outcome.FAIL in outcomes:
        return Result.INELIGIBLE
    if Outcome.UNKNOWN in outcomes:
        return Result.NEEDS_REVIEW
    return Result.ELIGIBLE

