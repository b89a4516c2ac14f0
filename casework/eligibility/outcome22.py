"""Outcome 22 eligibility, both variants: criteria O1 to O5 (DESIGN.md
"Checkpoint and Outcome 22 eligibility"). Pure standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from casework.eligibility.offences import Offence
from casework.eligibility.outcomes import Assessment, CriterionResult, Outcome
from casework.intake.validation import years_between

SCHEME = "outcome22"
RULESET_VERSION = "outcome22-2026.3"
PARENT_CONSENT_UNDER = 16

VARIANTS: dict[str, str] = {
    "diversion": "Outcome 22 diversion (no admission needed)",
    "deferred_prosecution": "Outcome 22 deferred prosecution (accepts responsibility)",
}
INTENSITIES: dict[str, str] = {
    "light": "Light", "structured": "Structured", "intensive": "Intensive",
}
_RANK = {name: rank for rank, name in enumerate(INTENSITIES)}

# Final gravity score → the least intense activity that is commensurate;
# None: not eligible at that score. Local configuration (OUTCOME22_INTENSITY).
DEFAULT_MINIMUM_INTENSITY: dict[int, str | None] = {
    1: "light", 2: "light", 3: "structured", 4: "intensive", 5: None,
}

CRITERIA: dict[str, tuple[str, str]] = {
    "O1": ("Recorded crime with a suspect", "A recorded crime with an identified suspect."),
    "O2": ("Offence seriousness", "Seriousness up to and including wounding or inflicting "
                                  "grievous bodily harm (Offences Against the Person Act 1861 "
                                  "s20); s18 and above are not eligible."),
    "O3": ("Public interest", "The deciding lead records why further action is not in the "
                              "public interest: not known until a lead decides, and a lead "
                              "decides eligible only by recording it. A rationale proposed "
                              "with the assessment is for the lead to read; it does not meet "
                              "O3."),
    "O4": ("Commensurate activity", "The planned activity is at least as intensive as the "
                                    "offence's gravity (1 to 5, plus or minus one for "
                                    "aggravating or mitigating factors) requires."),
    "O5": ("Agreement to engage", f"The person agrees to engage, with a parent or carer "
                                  f"under {PARENT_CONSENT_UNDER}; for deferred prosecution "
                                  "they also accept responsibility."),
}

# Criteria that define Outcome 22 in law: no lead can decide a person
# eligible unless they are met (a crime with a suspect; nothing above s20).
LOCKED_CRITERIA = ("O1", "O2")


@dataclass(frozen=True)
class Outcome22Facts:
    offence_date: date
    offence: Offence
    suspect_identified: bool
    variant: str
    planned_activity: str
    date_of_birth: date | None = None
    public_interest_rationale: str | None = None
    gravity_modifier: int = 0
    agrees_to_engage: bool | None = None
    parent_or_carer_agrees: bool | None = None
    accepts_responsibility: bool | None = None


@dataclass(frozen=True)
class Outcome22Rules:
    minimum_intensity: dict[int, str | None] = field(
        default_factory=lambda: dict(DEFAULT_MINIMUM_INTENSITY))


def final_gravity(offence: Offence, modifier: int) -> int:
    return min(5, max(1, offence.gravity + modifier))


def _result(cid: str, outcome: Outcome, reason: str) -> CriterionResult:
    return CriterionResult(cid, CRITERIA[cid][0], outcome, reason)


def _o1(facts: Outcome22Facts) -> CriterionResult:
    if facts.suspect_identified:
        return _result("O1", Outcome.PASS, "A recorded crime with an identified suspect.")
    return _result("O1", Outcome.FAIL, "No suspect identified; Outcome 22 needs one.")


def _o2(facts: Outcome22Facts) -> CriterionResult:
    named = f"{facts.offence.title} ({facts.offence.legislation})"
    if facts.offence.outcome22_permitted:
        return _result("O2", Outcome.PASS, f"{named} is within the seriousness Outcome 22 "
                                           "allows (up to s20 wounding).")
    return _result("O2", Outcome.FAIL, f"{named} is too serious for Outcome 22, which allows "
                                       "offences up to s20 wounding.")


def _o3(facts: Outcome22Facts) -> CriterionResult:
    """Not known until the deciding lead records the rationale
    (``public_interest_recorded``). It passed on any text typed with the
    facts, and said a decision maker had recorded it, so a lead could decide
    eligible with no rationale of their own (found by review; DESIGN's
    decision maker is the lead)."""
    proposed = "A public-interest rationale is proposed" \
        if (facts.public_interest_rationale or "").strip() \
        else "No public-interest rationale recorded yet"
    return _result("O3", Outcome.UNKNOWN,
                   f"{proposed}; the deciding lead must record why further action is not in "
                   "the public interest.")


def public_interest_recorded() -> CriterionResult:
    """O3 once the lead deciding eligible has recorded, as the decision's
    rationale, why further action is not in the public interest."""
    return _result("O3", Outcome.PASS,
                   "The deciding lead recorded why further action is not in the public "
                   "interest (the decision's rationale).")


def _o4(facts: Outcome22Facts, rules: Outcome22Rules) -> CriterionResult:
    score = final_gravity(facts.offence, facts.gravity_modifier)
    sign = f"{facts.gravity_modifier:+d}" if facts.gravity_modifier else "no"
    basis = f"Gravity {facts.offence.gravity} with {sign} modifier gives {score}"
    minimum = rules.minimum_intensity.get(score)
    if minimum is None:
        return _result("O4", Outcome.FAIL, f"{basis}; a score of {score} is not eligible for "
                                           "Outcome 22.")
    planned = INTENSITIES[facts.planned_activity].lower()
    if _RANK[facts.planned_activity] >= _RANK[minimum]:
        return _result("O4", Outcome.PASS, f"{basis}; {planned} activity meets the minimum "
                                           f"({INTENSITIES[minimum].lower()}).")
    return _result("O4", Outcome.FAIL, f"{basis}; {planned} activity is below the minimum "
                                       f"({INTENSITIES[minimum].lower()}).")


def parent_or_carer_must_agree(date_of_birth: date | None, offence_date: date) -> bool | None:
    """O5's age rule for someone born on ``date_of_birth`` (None: not
    known) on ``offence_date``: True if they were under
    PARENT_CONSENT_UNDER, so a parent or carer must agree; False if not;
    None if their age is not known, when the agreement may be needed and is
    asked for all the same. The rule an assessment applied, for a date of
    birth corrected after it (intake's notice of decisions made on earlier
    facts)."""
    if date_of_birth is None:
        return None
    return years_between(date_of_birth, offence_date) < PARENT_CONSENT_UNDER


def _o5(facts: Outcome22Facts) -> CriterionResult:
    return o5(facts.date_of_birth, facts.offence_date, variant=facts.variant,
              agrees_to_engage=facts.agrees_to_engage,
              parent_or_carer_agrees=facts.parent_or_carer_agrees,
              accepts_responsibility=facts.accepts_responsibility)


def o5(date_of_birth: date | None, offence_date: date, *, variant: str,
       agrees_to_engage: bool | None, parent_or_carer_agrees: bool | None,
       accepts_responsibility: bool | None) -> CriterionResult:
    """O5 on the facts it reads alone: for an assessment's facts with another
    date of birth (intake's notice of decisions made on earlier facts), as
    checkpoint.k1 is for K1."""
    failures, unknowns = [], []
    if agrees_to_engage is False:
        failures.append("does not agree to engage")
    elif agrees_to_engage is None:
        unknowns.append("whether they agree to engage")
    age = years_between(date_of_birth, offence_date) if date_of_birth else None
    must_agree = parent_or_carer_must_agree(date_of_birth, offence_date)
    if must_agree is not False:
        needs = f"aged {age}, so a parent or carer must agree" if age is not None else \
            "age not known, so a parent or carer's agreement may be needed"
        if parent_or_carer_agrees is False:
            failures.append(f"{needs}, and they do not")
        elif parent_or_carer_agrees is None:
            unknowns.append(f"the parent or carer's agreement ({needs})")
    if variant == "deferred_prosecution":
        if accepts_responsibility is False:
            failures.append("does not accept responsibility, which deferred prosecution needs")
        elif accepts_responsibility is None:
            unknowns.append("whether they accept responsibility (deferred prosecution)")
    if failures:
        return _result("O5", Outcome.FAIL, "The person " + "; ".join(failures) + ".")
    if unknowns:
        return _result("O5", Outcome.UNKNOWN, "Not yet known: " + "; ".join(unknowns) + ".")
    agreed = "Agrees to engage"
    if must_agree:
        agreed += ", with a parent or carer's agreement"
    if variant == "deferred_prosecution":
        agreed += ", and accepts responsibility"
    return _result("O5", Outcome.PASS, agreed + ".")


def assess(facts: Outcome22Facts, rules: Outcome22Rules | None = None) -> Assessment:
    """Apply O1 to O5 to ``facts``."""
    rules = rules or Outcome22Rules()
    return Assessment(SCHEME, RULESET_VERSION, (
        _o1(facts), _o2(facts), _o3(facts), _o4(facts, rules), _o5(facts),
    ))
