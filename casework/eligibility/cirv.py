"""CIRV eligibility: criteria C1 to C5 (DESIGN.md "Triage: CIRV eligibility").

Pure standard library. ``assess(facts, rules)`` gives one result per
criterion with a sentence a person can read; ``decision_problem`` says
whether a lead may record a decision against the computed result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from casework.eligibility.outcomes import Assessment, CriterionResult, Outcome, Result
from casework.intake.reference import LOCAL_AUTHORITIES
from casework.intake.validation import years_between
from casework.words import listed

SCHEME = "cirv"
# Change this whenever a criterion's logic or wording changes: decisions
# store the version they were made under.
RULESET_VERSION = "cirv-2026.3"

MINIMUM_AGE = 14

# Each criterion's title and what it requires, in words (the rules page).
CRITERIA: dict[str, tuple[str, str]] = {
    "C1": ("Age", f"Aged {MINIMUM_AGE} or over on the referral date (no upper limit). An "
                  "unknown date of birth needs review."),
    "C2": ("Trial site", "The person lives in, or the violence relates to, a trial site "
                         "(the sites of the trial open at the referral's site, or else "
                         "where the person lives)."),
    "C3": ("Group-related violence", "Involved in, or at high risk of, group-related "
                                     "violence, with at least one evidence category, "
                                     "confirmed by the triage panel."),
    "C4": ("Not already randomised", "Never randomised before, in this trial or another; "
                                     "a person already randomised keeps their allocation. "
                                     "Another record that may be the same person (the same "
                                     "name and date of birth, or PNC reference), already "
                                     "randomised, needs a lead's ruling."),
    "C5": ("No exclusion applies", "None of the configured exclusions applies."),
}

# The evidence categories that can support C3.
EVIDENCE: dict[str, str] = {
    "recent_violence": "Recent violence offence or arrest",
    "group_affiliation": "Intelligence of group affiliation",
    "victim_of_group_violence": "Victim of group violence",
    "weapon_carrying": "Weapon carrying",
    "criminal_exploitation": "Criminal exploitation",
}

# The exclusions (C5) as shipped, by key: the rules' default when none are
# passed in (CirvRules.exclusions). The service passes the list admins keep
# (triage.exclusions, the table migration 0024 seeded with these). Facts may
# name others: a key the list has no title for reads as itself.
DEFAULT_EXCLUSIONS: dict[str, str] = {
    "other_focused_deterrence": "Already in another focused-deterrence programme",
    "long_custodial_sentence": "Serving a custodial sentence that covers the trial period",
    "mappa_managed": "Managed under MAPPA at level 2 or 3",
    "safeguarding_plan_conflict": "Safeguarding plan rules out programme contact",
}

DEFAULT_TRIAL_SITES = {"coventry": "Coventry", "wolverhampton": "Wolverhampton"}


@dataclass(frozen=True)
class CirvFacts:
    referral_date: date
    site: str  # the referral's: where the violence it is about took place
    # the local authority the person lives in (intake.reference.LOCAL_AUTHORITIES),
    # if known: C2 passes on it too
    home: str | None = None
    date_of_birth: date | None = None
    group_violence_evidence: frozenset[str] = frozenset()
    panel_confirmed: bool | None = None
    already_randomised: bool = False
    exclusions: tuple[str, ...] = ()
    # another record, possibly this person, already randomised: as far as
    # any reader of the triage may be told ("a record held by Coventry (with
    # the same name and date of birth)")
    randomised_match: str | None = None


@dataclass(frozen=True)
class CirvRules:
    """What is configured: the trial's sites (key → name), and the
    exclusions' titles (key → title), by which C5 names those recorded."""

    trial_sites: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TRIAL_SITES))
    exclusions: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_EXCLUSIONS))


def _sentence_start(labels: list[str]) -> str:
    """Labels as one sentence's start: "Weapon carrying and victim of group
    violence". Only each label's first letter changes case: str.capitalize
    lowered the rest, so "MAPPA" read "mappa"."""
    named = listed([label[:1].lower() + label[1:] for label in labels])
    return named[:1].upper() + named[1:]


def age_on(dob: date | None, day: date) -> int | None:
    return None if dob is None else years_between(dob, day)


def _c1_age(facts: CirvFacts) -> CriterionResult:
    rule = f"CIRV is for people aged {MINIMUM_AGE} or over"
    age = age_on(facts.date_of_birth, facts.referral_date)
    if age is None:
        return CriterionResult("C1", CRITERIA["C1"][0], Outcome.UNKNOWN,
                               f"Date of birth not known, so age cannot be checked; {rule}.")
    outcome = Outcome.PASS if age >= MINIMUM_AGE else Outcome.FAIL
    return CriterionResult("C1", CRITERIA["C1"][0], outcome,
                           f"Aged {age} on the referral date; {rule}.")


def _lives_in(home: str) -> str:
    """"lives in Coventry", "lives outside the West Midlands"."""
    label = LOCAL_AUTHORITIES.get(home, home.replace("_", " ").title())
    return f"lives {label[:1].lower()}{label[1:]}" if label.startswith("Outside") \
        else f"lives in {label}"


def _c2_site(facts: CirvFacts, rules: CirvRules) -> CriterionResult:
    """The referral's site (where the violence took place) or the person's
    home in the trial: either gives the person a trial site to be
    randomised in (trial.services.stratum_for: the referral's, else home)."""
    name = rules.trial_sites.get(facts.site, facts.site.replace("_", " ").title())
    elsewhere = facts.home is not None and facts.home != facts.site
    if not rules.trial_sites:
        return CriterionResult("C2", CRITERIA["C2"][0], Outcome.FAIL,
                               f"Site is {name}; no trial is open.")
    sites = listed(sorted(rules.trial_sites.values()))
    if facts.site in rules.trial_sites:
        return CriterionResult("C2", CRITERIA["C2"][0], Outcome.PASS,
                               f"Site is {name}; the trial runs in {sites}.")
    if elsewhere and facts.home in rules.trial_sites:
        return CriterionResult("C2", CRITERIA["C2"][0], Outcome.PASS,
                               f"Site is {name}, but the person {_lives_in(facts.home)}; the "
                               f"trial runs in {sites}.")
    home = f" and the person {_lives_in(facts.home)}" if elsewhere else ""
    return CriterionResult("C2", CRITERIA["C2"][0], Outcome.FAIL,
                           f"Site is {name}{home}; the trial runs only in {sites}.")


def _c3_group_violence(facts: CirvFacts) -> CriterionResult:
    evidence = [EVIDENCE[e] for e in EVIDENCE if e in facts.group_violence_evidence]
    if not evidence:
        return CriterionResult(
            "C3", CRITERIA["C3"][0], Outcome.FAIL,
            "No evidence of group-related violence recorded; CIRV needs at least one "
            "evidence category confirmed by the panel.",
        )
    listed = _sentence_start(evidence)
    if facts.panel_confirmed is None:
        return CriterionResult("C3", CRITERIA["C3"][0], Outcome.UNKNOWN,
                               f"{listed} recorded; the panel has not yet confirmed it.")
    if facts.panel_confirmed:
        return CriterionResult("C3", CRITERIA["C3"][0], Outcome.PASS,
                               f"{listed} recorded and confirmed by the panel.")
    return CriterionResult("C3", CRITERIA["C3"][0], Outcome.FAIL,
                           f"{listed} recorded, but the panel did not confirm group-related "
                           "violence.")


def _c4_not_randomised(facts: CirvFacts) -> CriterionResult:
    if facts.already_randomised:
        return CriterionResult(
            "C4", CRITERIA["C4"][0], Outcome.FAIL,
            "Already randomised; the person keeps that allocation and is never "
            "randomised again.",
        )
    if facts.randomised_match:
        return CriterionResult(
            "C4", CRITERIA["C4"][0], Outcome.UNKNOWN,
            f"Not randomised before under this record, but {facts.randomised_match} is "
            "randomised and may be the same person; if so, they keep that allocation and are "
            "never randomised again, so a lead must rule.",
        )
    return CriterionResult("C4", CRITERIA["C4"][0], Outcome.PASS,
                           "Never randomised before.")


def _c5_exclusions(facts: CirvFacts, rules: CirvRules) -> CriterionResult:
    """Any exclusion recorded fails C5, named by its title as configured
    now (one no longer offered at triage still counts, and keeps its title)."""
    if facts.exclusions:
        once: dict[str, str] = {}  # each once, whatever its case ("A and a": review)
        for label in (rules.exclusions.get(e, e) for e in facts.exclusions):
            once.setdefault(label.casefold(), label)
        named = _sentence_start(list(once.values()))
        return CriterionResult("C5", CRITERIA["C5"][0], Outcome.FAIL,
                               f"Excluded: {named}.")
    return CriterionResult("C5", CRITERIA["C5"][0], Outcome.PASS, "No exclusion applies.")


def assess(facts: CirvFacts, rules: CirvRules | None = None) -> Assessment:
    """Apply C1 to C5 to ``facts``."""
    rules = rules or CirvRules()
    return Assessment(SCHEME, RULESET_VERSION, (
        _c1_age(facts),
        _c2_site(facts, rules),
        _c3_group_violence(facts),
        _c4_not_randomised(facts),
        _c5_exclusions(facts, rules),
    ))


# Criteria no lead can decide against: age, and a person already randomised
# (re-randomising would break the trial). A site outside the trial has no
# stratum to randomise in, so C2 must pass too.
LOCKED_CRITERIA = ("C1", "C2", "C4")
# Of those, the ones whose unknown is the lead's to rule on, with a
# rationale as any unknown: C4's, another record possibly this person's
# (a person recorded as new over a strong match), which only a lead who
# has looked can tell apart.
RULED_WHEN_UNKNOWN = ("C4",)
# What makes known a locked criterion no lead can rule on: it is recorded,
# then decided (C2 is never unknown: a referral always has its site).
WHEN_UNKNOWN = {"C1": "Record their date of birth on the person's record, then decide."}


def decision_problem(assessment: Assessment, decision: Result,
                     rationale: str | None) -> tuple[str, str] | None:
    """Why a lead may not record ``decision``, as (field, message), or None.

    A decision against the computed result is an override and needs a
    rationale (field "rationale"); nobody may decide eligible unless C1, C2
    and C4 pass (field "decision"), or C4 is unknown (RULED_WHEN_UNKNOWN).
    A locked criterion not known is said to be not known, with what makes
    it known (WHEN_UNKNOWN), not "not met": a date of birth missing is
    recorded, then the triage decided.
    """
    if decision not in (Result.ELIGIBLE, Result.INELIGIBLE):
        return "decision", "Decide eligible or ineligible"
    if decision == Result.ELIGIBLE:
        for criterion_id in LOCKED_CRITERIA:
            criterion = assessment.criterion(criterion_id)
            named = f"{criterion_id} ({criterion.title.lower()})"
            if criterion.outcome == Outcome.FAIL:
                return "decision", f"{named} is not met and cannot be overridden: " \
                                   f"{criterion.reason}"
            if criterion.outcome == Outcome.UNKNOWN and criterion_id not in RULED_WHEN_UNKNOWN:
                way_on = WHEN_UNKNOWN.get(criterion_id, "Record what is missing, then decide.")
                return "decision", (f"{named} is not known, and cannot be overridden: "
                                    f"{criterion.reason} {way_on}")
    if decision != assessment.result and not (rationale or "").strip():
        return "rationale", (f"The rules give {assessment.result.label.lower()}; give a "
                             f"rationale to decide {decision.label.lower()}")
    return None
