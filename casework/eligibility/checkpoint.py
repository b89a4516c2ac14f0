"""Checkpoint (deferred prosecution) eligibility: criteria K1 to K6
(DESIGN.md "Checkpoint and Outcome 22 eligibility"). Pure standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from casework.dates import long_date
from casework.eligibility.offences import (
    CATEGORIES,
    HISTORY_OUTCOMES,
    OUTCOME_CODES,
    SERIOUS_CATEGORIES,
    Offence,
)
from casework.eligibility.outcomes import Assessment, CriterionResult, Outcome
from casework.intake.validation import years_between
from casework.words import listed

SCHEME = "checkpoint"
RULESET_VERSION = "checkpoint-2026.3"
MINIMUM_AGE, MAXIMUM_AGE = 10, 17

# Possession offences Checkpoint is for, and the weapon offences it excludes.
ELIGIBLE_OFFENCES = ("bladed_article_s139", "offensive_weapon_s1")
EXCLUDED_WEAPON_OFFENCES = ("bladed_article_school_s139a", "threatening_with_blade_s139aa",
                            "threatening_with_offensive_weapon_s1a")

AGGRAVATING_FACTORS: dict[str, str] = {
    "weapon_used_or_threatened": "Weapon used or threatened",
    "injury_caused": "Injury caused",
    "linked_offence": "Linked to another offence such as robbery or supply",
    "group_context": "Group or gang context",
    "firearm_or_imitation": "Firearm or imitation firearm",
    "on_bail_or_order": "On bail or a court order at the time",
}

# K4's outcomes and categories in words, written from the sets _k4 reads,
# so the rules page says what the code counts (hand-written, the words
# left out outcomes 4, 7 and 23).
HISTORY_WORDS = "; ".join(f"{code} {OUTCOME_CODES[code].lower()}"
                          for code in sorted(HISTORY_OUTCOMES))
SERIOUS_WORDS = listed([label.lower() for key, label in CATEGORIES.items()
                        if key in SERIOUS_CATEGORIES], "or")

# What each criterion requires, in words: the rules page shows these.
CRITERIA: dict[str, tuple[str, str]] = {
    "K1": ("Age", f"Aged {MINIMUM_AGE} to {MAXIMUM_AGE} on the offence date."),
    "K2": ("Offence", "Possession of a bladed or pointed article in a public place "
                      "(Criminal Justice Act 1988 s139) or of an offensive weapon (Prevention "
                      "of Crime Act 1953 s1). On school premises (s139A) or threatening with a "
                      "weapon (s139AA, s1A) is not eligible."),
    "K3": ("No aggravating circumstances", "None of: " + "; ".join(
        v.lower() for v in AGGRAVATING_FACTORS.values()) + "."),
    "K4": ("No previous criminal history",
           "No previous outcome that records an offence, dated before the offence date: "
           f"outcomes {HISTORY_WORDS}. Other "
           "outcomes (no further action of one kind or another) are not history. A "
           f"previous outcome for a {SERIOUS_WORDS} offence is not eligible; any other "
           "needs a decision maker's review of whether it is very minor. An offence not in "
           "the catalogue is judged by the category it is given."),
    "K5": ("Admits the offence", "The child admits the offence."),
    "K6": ("Sufficient evidence", "There is sufficient evidence to charge."),
}

# Criteria that define the scheme in law: no lead can decide a person
# eligible unless they are met. The others (aggravation, history, admission,
# evidence) can be decided against, with a rationale.
LOCKED_CRITERIA = ("K1", "K2")


@dataclass(frozen=True)
class PreviousOutcome:
    """An outcome before the offence: for an offence of the catalogue
    (``offence``), or for one it does not hold (vehicle taking, arson), named
    by its ``category`` (a key of CATEGORIES) and, if given, a
    ``description``. K4 judges either by its category. Only the catalogue's
    22 could be named, so a child's caution for another offence was left out
    or recorded as a wrong one (found by review)."""

    offence: Offence | None
    outcome_code: int
    on: date
    category: str | None = None  # for an offence not in the catalogue only
    description: str | None = None

    def __post_init__(self):
        if (self.offence is None) == (self.category is None):
            raise ValueError("A previous outcome names a catalogue offence or a category")

    @property
    def offence_category(self) -> str:
        return self.offence.category if self.offence is not None else str(self.category)

    @property
    def named(self) -> str:
        """The offence in words, as K4's reason gives it."""
        if self.offence is not None:
            return self.offence.title.lower()
        kind = CATEGORIES.get(str(self.category), str(self.category)).lower()
        return (f"{self.description}, " if self.description else "") + \
            f"an offence not in the catalogue ({kind})"


@dataclass(frozen=True)
class CheckpointFacts:
    offence_date: date
    offence: Offence
    date_of_birth: date | None = None
    aggravating_factors: frozenset[str] = frozenset()
    previous_outcomes: tuple[PreviousOutcome, ...] = field(default_factory=tuple)
    admits_offence: bool | None = None
    sufficient_evidence: bool | None = None


def _result(cid: str, outcome: Outcome, reason: str) -> CriterionResult:
    return CriterionResult(cid, CRITERIA[cid][0], outcome, reason)


def _k1(facts: CheckpointFacts) -> CriterionResult:
    return k1(facts.date_of_birth, facts.offence_date)


def k1(date_of_birth: date | None, offence_date: date) -> CriterionResult:
    """K1 for someone born on ``date_of_birth`` (None: not known) on
    ``offence_date``: the rule an assessment applied, for a date of birth
    corrected after it (intake's notice of decisions made on earlier facts)."""
    rule = f"Checkpoint is for ages {MINIMUM_AGE} to {MAXIMUM_AGE}"
    if date_of_birth is None:
        return _result("K1", Outcome.UNKNOWN,
                       f"Date of birth not known, so age on the offence date cannot be checked; "
                       f"{rule}.")
    age = years_between(date_of_birth, offence_date)
    outcome = Outcome.PASS if MINIMUM_AGE <= age <= MAXIMUM_AGE else Outcome.FAIL
    return _result("K1", outcome, f"Aged {age} on the offence date; {rule}.")


def _k2(facts: CheckpointFacts) -> CriterionResult:
    offence = facts.offence
    named = f"{offence.title} ({offence.legislation})"
    if offence.key in ELIGIBLE_OFFENCES:
        return _result("K2", Outcome.PASS, f"{named} is a Checkpoint offence.")
    if offence.key in EXCLUDED_WEAPON_OFFENCES:
        return _result("K2", Outcome.FAIL, f"{named} is excluded from Checkpoint, which is for "
                                           "simple possession in a public place.")
    return _result("K2", Outcome.FAIL, f"{named} is not a Checkpoint offence; Checkpoint is "
                                       "for possession of a bladed article or offensive weapon.")


def _k3(facts: CheckpointFacts) -> CriterionResult:
    present = [label for key, label in AGGRAVATING_FACTORS.items()
               if key in facts.aggravating_factors]
    if present:
        return _result("K3", Outcome.FAIL, "Aggravating circumstances: "
                       + "; ".join(p.lower() for p in present)
                       + ". Checkpoint needs none.")
    return _result("K3", Outcome.PASS, "No aggravating circumstances recorded.")


def _k4(facts: CheckpointFacts) -> CriterionResult:
    # only outcomes before the offence date are previous history (the
    # schemas refuse others; the rule says so of itself too)
    history = [p for p in facts.previous_outcomes
               if p.outcome_code in HISTORY_OUTCOMES and p.on < facts.offence_date]
    serious = [p for p in history if p.offence_category in SERIOUS_CATEGORIES]
    if serious:
        first = serious[0]
        return _result("K4", Outcome.FAIL,
                       f"Previous outcome {first.outcome_code} for {first.named} "
                       f"on {long_date(first.on)}; any previous outcome for a {SERIOUS_WORDS} "
                       "offence rules Checkpoint out.")
    if history:
        listed = "; ".join(f"{p.named} (outcome {p.outcome_code})" for p in history)
        return _result("K4", Outcome.UNKNOWN,
                       f"Previous non-violent history: {listed}; a decision maker must judge "
                       "whether it is very minor.")
    return _result("K4", Outcome.PASS, "No previous criminal history.")


def _yes_no(cid: str, value: bool | None, yes: str, no: str, unknown: str) -> CriterionResult:
    if value is None:
        return _result(cid, Outcome.UNKNOWN, unknown)
    return _result(cid, Outcome.PASS if value else Outcome.FAIL, yes if value else no)


def assess(facts: CheckpointFacts) -> Assessment:
    """Apply K1 to K6 to ``facts``."""
    return Assessment(SCHEME, RULESET_VERSION, (
        _k1(facts), _k2(facts), _k3(facts), _k4(facts),
        _yes_no("K5", facts.admits_offence, "Admits the offence.",
                "Does not admit the offence; Checkpoint needs an admission.",
                "Not yet known whether the child admits the offence."),
        _yes_no("K6", facts.sufficient_evidence, "There is sufficient evidence to charge.",
                "There is not sufficient evidence to charge; Checkpoint is an alternative to "
                "a charge, so it needs enough evidence for one.",
                "Not yet known whether there is sufficient evidence to charge."),
    ))
