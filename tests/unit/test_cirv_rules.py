"""CIRV criteria C1 to C5 at their boundaries, the overall result, and
which decisions a lead may record (no app, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from casework.eligibility import cirv
from casework.eligibility.outcomes import Outcome, Result

REFERRAL_DATE = date(2026, 6, 15)


def facts(**overrides) -> cirv.CirvFacts:
    base = cirv.CirvFacts(
        referral_date=REFERRAL_DATE, site="coventry", date_of_birth=date(2008, 1, 1),
        group_violence_evidence=frozenset({"recent_violence"}), panel_confirmed=True,
        already_randomised=False, exclusions=(),
    )
    return replace(base, **overrides)


def outcome(criterion: str, **overrides) -> cirv.CriterionResult:
    return cirv.assess(facts(**overrides)).criterion(criterion)


def test_all_criteria_met_is_eligible():
    assessment = cirv.assess(facts())
    assert assessment.result == Result.ELIGIBLE
    assert [c.id for c in assessment.criteria] == ["C1", "C2", "C3", "C4", "C5"]
    assert assessment.to_dict()["ruleset_version"] == cirv.RULESET_VERSION


@pytest.mark.parametrize(("dob", "expected", "age"), [
    (date(2012, 6, 16), Outcome.FAIL, 13),   # 14th birthday the day after the referral
    (date(2012, 6, 15), Outcome.PASS, 14),   # 14 on the referral date itself
    (date(2012, 6, 14), Outcome.PASS, 14),
    (date(1964, 1, 1), Outcome.PASS, 62),    # no upper limit
])
def test_c1_age_on_the_referral_date(dob, expected, age):
    result = outcome("C1", date_of_birth=dob)
    assert result.outcome == expected
    assert result.reason.startswith(f"Aged {age} on the referral date")


def test_c1_leap_day_birthday_turns_14_on_1_march():
    assert outcome("C1", date_of_birth=date(2012, 2, 29),
                   referral_date=date(2026, 2, 28)).outcome == Outcome.FAIL
    assert outcome("C1", date_of_birth=date(2012, 2, 29),
                   referral_date=date(2026, 3, 1)).outcome == Outcome.PASS


def test_c1_unknown_date_of_birth_is_unknown_and_needs_review():
    result = outcome("C1", date_of_birth=None)
    assert result.outcome == Outcome.UNKNOWN and "Date of birth not known" in result.reason
    assert cirv.assess(facts(date_of_birth=None)).result == Result.NEEDS_REVIEW


@pytest.mark.parametrize(("site", "expected"), [
    ("coventry", Outcome.PASS), ("wolverhampton", Outcome.PASS),
    ("birmingham", Outcome.FAIL), ("dudley", Outcome.FAIL), ("sandwell", Outcome.FAIL),
    ("solihull", Outcome.FAIL), ("walsall", Outcome.FAIL),
])
def test_c2_each_site(site, expected):
    assert outcome("C2", site=site).outcome == expected


def test_c2_trial_sites_are_configurable():
    rules = cirv.CirvRules(trial_sites={"birmingham": "Birmingham"})
    assert cirv.assess(facts(site="birmingham"), rules).criterion("C2").outcome == Outcome.PASS
    c2 = cirv.assess(facts(site="coventry"), rules).criterion("C2")
    assert c2.outcome == Outcome.FAIL and "only in Birmingham" in c2.reason


@pytest.mark.parametrize("evidence", sorted(cirv.EVIDENCE))
def test_c3_any_single_evidence_category_confirmed_passes(evidence):
    result = outcome("C3", group_violence_evidence=frozenset({evidence}))
    assert result.outcome == Outcome.PASS
    assert cirv.EVIDENCE[evidence].lower() in result.reason.lower()


@pytest.mark.parametrize(("evidence", "panel", "expected"), [
    (frozenset(), True, Outcome.FAIL),
    (frozenset(), None, Outcome.FAIL),
    (frozenset({"weapon_carrying"}), None, Outcome.UNKNOWN),
    (frozenset({"weapon_carrying"}), False, Outcome.FAIL),
    (frozenset({"weapon_carrying", "criminal_exploitation"}), True, Outcome.PASS),
])
def test_c3_evidence_and_panel(evidence, panel, expected):
    assert outcome("C3", group_violence_evidence=evidence,
                   panel_confirmed=panel).outcome == expected


def test_c2_passes_on_where_the_person_lives():
    """DESIGN.md: the person lives in, or the violence relates to, a trial
    site. C2 looked at the referral's site alone."""
    lives_there = outcome("C2", site="birmingham", home="coventry")
    assert lives_there.outcome == Outcome.PASS
    assert lives_there.reason == ("Site is Birmingham, but the person lives in Coventry; the "
                                  "trial runs in Coventry and Wolverhampton.")
    neither = outcome("C2", site="birmingham", home="dudley")
    assert neither.outcome == Outcome.FAIL
    assert neither.reason == ("Site is Birmingham and the person lives in Dudley; the trial "
                              "runs only in Coventry and Wolverhampton.")
    assert outcome("C2", site="birmingham", home="outside_west_midlands").reason.startswith(
        "Site is Birmingham and the person lives outside the West Midlands;")
    assert outcome("C2", site="birmingham", home="birmingham").reason == (
        "Site is Birmingham; the trial runs only in Coventry and Wolverhampton.")
    assert outcome("C2", site="coventry", home="dudley").reason == (
        "Site is Coventry; the trial runs in Coventry and Wolverhampton.")


def test_c3_panel_unconfirmed_needs_review():
    assessment = cirv.assess(facts(panel_confirmed=None))
    assert assessment.result == Result.NEEDS_REVIEW
    assert "not yet confirmed" in assessment.criterion("C3").reason


def test_c4_already_randomised_fails():
    result = outcome("C4", already_randomised=True)
    assert result.outcome == Outcome.FAIL and "keeps that allocation" in result.reason
    assert outcome("C4").outcome == Outcome.PASS


def test_c4_a_randomised_possible_match_needs_review():
    match = "a record held by Coventry (with the same name and date of birth)"
    result = outcome("C4", randomised_match=match)
    assert result.outcome == Outcome.UNKNOWN and match in result.reason
    assert "a lead must rule" in result.reason
    assert outcome("C4", already_randomised=True, randomised_match=match).outcome == Outcome.FAIL
    assert cirv.assess(facts(randomised_match=match)).result == Result.NEEDS_REVIEW


def test_a_randomised_possible_match_is_the_leads_to_rule_on():
    """C4 unknown (another record, possibly this person, randomised) is
    decided by a lead with a rationale, either way; C4 failing (this record
    randomised) still cannot be overridden."""
    review = cirv.assess(facts(randomised_match="a record held by Coventry (with the same "
                                                "PNC reference)"))
    assert cirv.decision_problem(review, Result.ELIGIBLE, None)[0] == "rationale"
    assert cirv.decision_problem(review, Result.ELIGIBLE, "Checked: a different man") is None
    assert cirv.decision_problem(review, Result.INELIGIBLE, None)[0] == "rationale"
    assert cirv.decision_problem(review, Result.INELIGIBLE, "The same man") is None


def test_c5_exclusions_name_themselves():
    result = outcome("C5", exclusions=("other_focused_deterrence", "something local"))
    assert result.outcome == Outcome.FAIL
    assert "another focused-deterrence programme" in result.reason
    assert "something local" in result.reason
    assert outcome("C5").outcome == Outcome.PASS


def test_c5_names_an_exclusion_given_twice_once():
    assert outcome("C5", exclusions=("a", "a", "A", "mappa_managed", "mappa_managed")).reason \
        == "Excluded: A and managed under MAPPA at level 2 or 3."


def test_reasons_keep_the_labels_capitals():
    assert outcome("C5", exclusions=("mappa_managed",)).reason == (
        "Excluded: Managed under MAPPA at level 2 or 3.")
    assert outcome("C5", exclusions=("safeguarding_plan_conflict", "mappa_managed")).reason == (
        "Excluded: Safeguarding plan rules out programme contact and managed under MAPPA at "
        "level 2 or 3.")
    assert outcome("C3", group_violence_evidence=("weapon_carrying", "group_affiliation"),
                   panel_confirmed=True).reason.startswith(
        "Intelligence of group affiliation and weapon carrying recorded")
    assert "Coventry and Wolverhampton" in outcome("C2", site="dudley").reason


def test_any_fail_beats_unknown():
    assessment = cirv.assess(facts(date_of_birth=None, site="dudley"))
    assert assessment.result == Result.INELIGIBLE


def test_every_reason_is_one_sentence():
    for assessment in (cirv.assess(facts()), cirv.assess(facts(
            date_of_birth=None, site="dudley", group_violence_evidence=frozenset(),
            already_randomised=True, exclusions=("mappa_managed",))),
                       cirv.assess(facts(randomised_match="person 1 (held by Coventry, with "
                                                          "the same PNC reference)"))):
        for criterion in assessment.criteria:
            assert criterion.reason.endswith(".") and criterion.reason.count(". ") == 0


# decisions a lead may record

def test_agreeing_with_the_rules_needs_no_rationale():
    assert cirv.decision_problem(cirv.assess(facts()), Result.ELIGIBLE, None) is None
    ineligible = cirv.assess(facts(exclusions=("mappa_managed",)))
    assert cirv.decision_problem(ineligible, Result.INELIGIBLE, "") is None


def test_an_override_needs_a_rationale():
    eligible = cirv.assess(facts())
    field, message = cirv.decision_problem(eligible, Result.INELIGIBLE, "  ")
    assert field == "rationale" and "give a rationale" in message
    assert cirv.decision_problem(eligible, Result.INELIGIBLE, "Family moving away") is None
    review = cirv.assess(facts(panel_confirmed=None))
    assert cirv.decision_problem(review, Result.ELIGIBLE, None)[0] == "rationale"
    assert cirv.decision_problem(review, Result.ELIGIBLE, "Panel met by phone") is None
    excluded = cirv.assess(facts(exclusions=("mappa_managed",)))
    assert cirv.decision_problem(excluded, Result.ELIGIBLE, "MAPPA level 1 only") is None


@pytest.mark.parametrize("overrides", [
    {"date_of_birth": date(2013, 1, 1)},   # C1 fails
    {"date_of_birth": None},               # C1 unknown
    {"already_randomised": True},          # C4 fails
    {"site": "walsall"},                   # C2: no stratum outside the trial
])
def test_age_site_and_prior_randomisation_cannot_be_overridden(overrides):
    assessment = cirv.assess(facts(**overrides))
    field, message = cirv.decision_problem(assessment, Result.ELIGIBLE, "A good reason")
    assert field == "decision" and "cannot be overridden" in message


def test_an_unknown_age_is_said_to_be_not_known_with_the_way_on():
    """C1 unknown (no date of birth) was refused as "C1 (age) is not met":
    it is not known, and the lead is told to record the date of birth;
    a C1 that fails is still "not met"."""
    field, message = cirv.decision_problem(cirv.assess(facts(date_of_birth=None)),
                                           Result.ELIGIBLE, "A good reason")
    assert field == "decision"
    assert message.startswith("C1 (age) is not known, and cannot be overridden: Date of birth "
                              "not known")
    assert "not met" not in message
    assert message.endswith("Record their date of birth on the person's record, then decide.")
    _, message = cirv.decision_problem(cirv.assess(facts(date_of_birth=date(2013, 1, 1))),
                                       Result.ELIGIBLE, "A good reason")
    assert message.startswith("C1 (age) is not met and cannot be overridden: Aged 13")


def test_only_eligible_or_ineligible_can_be_decided():
    assert cirv.decision_problem(cirv.assess(facts()), Result.NEEDS_REVIEW, "x")[0] == "decision"
