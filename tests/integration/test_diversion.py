"""Checkpoint and Outcome 22 on a real database: the CLI, assessments and
decisions, the diversion lifecycle with its due dates, overdue and failure,
and the catalogue's administration."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.diversion import services
from casework.diversion.models import Offence
from casework.extensions import db

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
EARLY = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # assessed and offered
CHECKPOINT = {
    "date_of_birth": "2010-03-01", "offence_date": "2026-05-01",
    "offence": "bladed_article_s139", "aggravating_factors": [],
    "previous_outcomes": [], "admits_offence": True, "sufficient_evidence": True,
}
OUTCOME22 = {
    "date_of_birth": "2009-01-01", "offence_date": "2026-05-01", "offence": "theft",
    "suspect_identified": True, "variant": "diversion",
    "public_interest_rationale": "First offence", "gravity_modifier": 0,
    "planned_activity": "light", "agrees_to_engage": True, "parent_or_carer_agrees": None,
    "accepts_responsibility": None,
}
SETTINGS = services.Settings({"checkpoint": 16, "outcome22": 12}, 22,
                             {1: "light", 2: "light", 3: "structured", 4: "intensive", 5: None})


def assess_cli(runner, scheme, facts):
    payload = facts if isinstance(facts, str) else json.dumps(facts)
    return runner.invoke(args=["eligibility", "assess", "--scheme", scheme, "-"], input=payload)


@pytest.mark.parametrize(("scheme", "facts", "ids", "expected"), [
    ("checkpoint", CHECKPOINT, ["K1", "K2", "K3", "K4", "K5", "K6"], "eligible"),
    # O3 waits for the deciding lead's record, whatever rationale the facts propose
    ("outcome22", OUTCOME22, ["O1", "O2", "O3", "O4", "O5"], "needs_review"),
])
def test_cli_assesses_both_schemes(runner, scheme, facts, ids, expected):
    result = assess_cli(runner, scheme, facts)
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert decision["scheme"] == scheme and decision["result"] == expected
    assert [c["id"] for c in decision["criteria"]] == ids


def test_cli_reads_the_catalogue_from_the_database(runner):
    offence = db.session.scalars(select(Offence).where(Offence.key == "theft")).one()
    offence.outcome22_permitted = False
    db.session.commit()
    try:
        decision = json.loads(assess_cli(runner, "outcome22", OUTCOME22).output)
        assert decision["criteria"][1]["outcome"] == "fail"
    finally:
        offence.outcome22_permitted = True
        db.session.commit()


def test_cli_uses_the_configured_intensity_table(make_app):
    app = make_app(OUTCOME22_INTENSITY={1: "intensive", 2: "intensive", 3: "intensive",
                                        4: "intensive", 5: None})
    with app.app_context():
        result = assess_cli(app.test_cli_runner(), "outcome22", OUTCOME22)
    assert json.loads(result.output)["criteria"][3]["outcome"] == "fail"


@pytest.mark.parametrize(("scheme", "facts", "message"), [
    ("checkpoint", "{oops", "not valid JSON"),
    ("checkpoint", {k: v for k, v in CHECKPOINT.items() if k != "offence"},
     "offence: Missing data for required field."),
    ("checkpoint", {**CHECKPOINT, "offence": "jaywalking"}, "offence: Unknown offence"),
    ("checkpoint", {**CHECKPOINT, "aggravating_factors": ["bad_attitude"]},
     "aggravating_factors.0: Must be one of"),
    ("checkpoint", {**CHECKPOINT, "previous_outcomes": [
        {"offence": "theft", "outcome_code": 24, "date": "2025-01-01"}]},
     "previous_outcomes.0.outcome_code: Must be a Home Office outcome code"),
    ("checkpoint", {**CHECKPOINT, "previous_outcomes": [
        {"offence": "shoplifting", "outcome_code": 8, "date": "2025-01-01"}]},
     "previous_outcomes.0.offence: Unknown offence"),
    ("checkpoint", {**CHECKPOINT, "admits_offence": "yes"}, "admits_offence: Must be true"),
    ("outcome22", {**OUTCOME22, "gravity_modifier": 2}, "gravity_modifier: Must be one of"),
    ("outcome22", {**OUTCOME22, "variant": "caution"}, "variant: Must be one of"),
    ("outcome22", {**OUTCOME22, "planned_activity": "none"}, "planned_activity: Must be one"),
    ("outcome22", {**OUTCOME22, "extra": 1}, "extra: Unknown field."),
    ("outcome22", {k: v for k, v in OUTCOME22.items() if k != "suspect_identified"},
     "suspect_identified: Missing data"),
    ("checkpoint", {**CHECKPOINT, "date_of_birth": "2026-05-02"},
     "offence_date: The offence date is before the person's date of birth (2 May 2026)."),
    ("outcome22", {**OUTCOME22, "date_of_birth": "2026-05-02"},
     "offence_date: The offence date is before the person's date of birth (2 May 2026)."),
    # history from before the child was born is no history (it counted for K4)
    ("checkpoint", {**CHECKPOINT, "previous_outcomes": [
        {"offence": "theft", "outcome_code": 8, "date": "1990-01-01"}]},
     "previous_outcomes.0.date: Must not be before the person's date of birth "
     "(1 March 2010)."),
    ("outcome22", {**OUTCOME22, "offence_date": "2200-01-01"},
     "offence_date: Must be a date from 1900 to 2099."),
    ("checkpoint", {**CHECKPOINT, "previous_outcomes": [
        {"offence": "theft", "outcome_code": 8, "date": "1066-10-14"}]},
     "previous_outcomes.0.date: Must be a date from 1900 to 2099."),
    ("checkpoint", {**CHECKPOINT, "previous_outcomes": [
        {"offence": "theft", "outcome_code": 8, "date": "2025-01-01"},
        {"offence": "theft", "outcome_code": 8, "date": "2026-05-02"}]},
     "previous_outcomes.1.date: Must be before the offence date"),
    # one dated the offence's own day is no previous history either: counted,
    # a same-day weapon caution (the incident itself) made K4 fail
    ("checkpoint", {**CHECKPOINT, "previous_outcomes": [
        {"offence": "offensive_weapon_s1", "outcome_code": 2, "date": "2026-05-01"}]},
     "previous_outcomes.0.date: Must be before the offence date: only earlier outcomes are "
     "previous history."),
    # a previous outcome names a catalogue offence or, for another, its category
    ("checkpoint", {**CHECKPOINT, "previous_outcomes": [
        {"outcome_code": 2, "date": "2025-01-01"}]},
     "previous_outcomes.0.offence: Give the offence: a key from the offence catalogue, or, "
     "for an offence not in it, its category."),
    ("checkpoint", {**CHECKPOINT, "previous_outcomes": [
        {"offence": "theft", "category": "other", "outcome_code": 2, "date": "2025-01-01"}]},
     "previous_outcomes.0.category: Give a category only for an offence not in the "
     "catalogue"),
    ("checkpoint", {**CHECKPOINT, "previous_outcomes": [
        {"category": "motoring", "outcome_code": 2, "date": "2025-01-01"}]},
     "previous_outcomes.0.category: Must be an offence category: violence, weapon"),
    ("checkpoint", {**CHECKPOINT, "previous_outcomes": [
        {"offence": "theft", "description": "Shoplifting", "outcome_code": 2,
         "date": "2025-01-01"}]},
     "previous_outcomes.0.description: Describe only an offence not in the catalogue"),
    ("checkpoint", {**CHECKPOINT, "previous_outcomes": [
        {"category": "other", "description": "x" * 201, "outcome_code": 2,
         "date": "2025-01-01"}]},
     "previous_outcomes.0.description: Longer than maximum length 200."),
])
def test_cli_refuses_bad_facts(runner, scheme, facts, message):
    result = assess_cli(runner, scheme, facts)
    assert result.exit_code == 2 and message in result.stderr, result.output


@pytest.mark.parametrize(("previous", "outcome", "reason"), [
    ({"category": "other", "description": "Vehicle taking"}, "unknown",
     "Previous non-violent history: Vehicle taking, an offence not in the catalogue (other) "
     "(outcome 2); a decision maker must judge whether it is very minor."),
    ({"category": "violence", "description": "Arson endangering life"}, "fail",
     "Previous outcome 2 for Arson endangering life, an offence not in the catalogue "
     "(violence) on 1 January 2025;"),
    ({"category": "weapon", "description": None}, "fail",
     "Previous outcome 2 for an offence not in the catalogue (weapon) on 1 January 2025;"),
])
def test_cli_takes_a_previous_outcome_for_an_offence_not_in_the_catalogue(runner, previous,
                                                                          outcome, reason):
    """The catalogue holds 22 offences; a child's caution for another could
    not be given, so it was left out and K4 passed (found by review)."""
    result = assess_cli(runner, "checkpoint", {**CHECKPOINT, "previous_outcomes": [
        {**previous, "outcome_code": 2, "date": "2025-01-01"}]})
    assert result.exit_code == 0, result.output
    k4 = json.loads(result.output)["criteria"][3]
    assert k4["id"] == "K4" and k4["outcome"] == outcome and k4["reason"].startswith(reason)


@pytest.fixture
def child(make_referral):
    return make_referral("coventry", dob=date(2010, 3, 1)).person


@pytest.fixture
def worker(make_user):
    return make_user("caseworker", ("coventry",), email="yos@example.org")


@pytest.fixture
def lead(make_user):
    return make_user("lead", ("coventry",), email="yoslead@example.org")


def eligible_assessment(child, worker, lead, scheme="checkpoint"):
    data = {**(CHECKPOINT if scheme == "checkpoint" else OUTCOME22), "date_of_birth": "2010-03-01"}
    assessment = services.assess_data(child, scheme, data, actor=worker, now=EARLY,
                                      settings=SETTINGS)
    services.decide(assessment, "eligible", None, actor=lead, now=EARLY)
    db.session.commit()
    return assessment


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_an_assessment_keeps_facts_version_result_and_reasons(child, worker):
    assessment = services.assess_data(child, "checkpoint",
                                      {**CHECKPOINT, "admits_offence": None},
                                      actor=worker, now=NOW, settings=SETTINGS)
    db.session.commit()
    assert assessment.result == "needs_review" and assessment.ruleset_version.startswith(
        "checkpoint-")
    assert assessment.facts["offence"] == "bladed_article_s139"
    assert assessment.facts["admits_offence"] is None
    assert [c["outcome"] for c in assessment.criteria] == ["pass"] * 4 + ["unknown", "pass"]
    assert "assessment:recorded" in actions()


def test_bad_facts_are_refused_naming_the_field(child, worker):
    with pytest.raises(services.DiversionError) as refused:
        services.assess_data(child, "checkpoint", {**CHECKPOINT, "previous_outcomes": [
            {"offence": "theft", "outcome_code": 8, "date": None}]},
            actor=worker, now=NOW, settings=SETTINGS)
    assert refused.value.problems == {"previous_outcomes.0.date": "Field may not be null."}
    with pytest.raises(services.DiversionError, match="cannot be in the future"):
        services.assess_data(child, "checkpoint", {**CHECKPOINT, "offence_date": "2026-12-01"},
                             actor=worker, now=NOW, settings=SETTINGS)


def test_a_decision_against_the_rules_needs_a_rationale(child, worker, lead):
    assessment = services.assess_data(child, "checkpoint", {**CHECKPOINT, "admits_offence": None},
                                      actor=worker, now=NOW, settings=SETTINGS)
    with pytest.raises(services.DiversionError, match="give a rationale"):
        services.decide(assessment, "eligible", "", actor=lead, now=NOW)
    services.decide(assessment, "eligible", "Admitted in interview", actor=lead, now=NOW)
    with pytest.raises(services.DiversionError, match="already been decided"):
        services.decide(assessment, "ineligible", "x", actor=lead, now=NOW)
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "assessment:decided")).one()
    assert event.detail["overridden"] is True and "interview" not in json.dumps(event.detail)


@pytest.mark.parametrize(("scheme", "facts", "criterion"), [
    ("checkpoint", {"offence_date": "2028-03-01"}, "K1"),  # 18 on the offence date
    ("checkpoint", {"offence": "bladed_article_school_s139a"}, "K2"),
    ("outcome22", {"suspect_identified": False}, "O1"),
    ("outcome22", {"offence": "gbh_intent_s18"}, "O2"),
])
def test_no_decision_overrides_what_defines_the_scheme(child, worker, lead, scheme, facts,
                                                       criterion):
    data = {**(CHECKPOINT if scheme == "checkpoint" else OUTCOME22),
            "date_of_birth": "2010-03-01", **facts}
    now = datetime(2028, 6, 1, tzinfo=UTC)
    assessment = services.assess_data(child, scheme, data, actor=worker, now=now,
                                      settings=SETTINGS)
    assert assessment.result == "ineligible"
    with pytest.raises(services.DiversionError, match=f"{criterion} is not met and cannot be "
                                                      "overridden"):
        services.decide(assessment, "eligible", "The lead says so", actor=lead, now=now)
    assert assessment.decided_at is None
    services.decide(assessment, "ineligible", None, actor=lead, now=now)


def test_a_criterion_not_known_is_said_to_be_not_known(child, worker, lead):
    """K1 with no date of birth is unknown, and a decision of eligible said
    "K1 is not met": the lead was not told what would let them decide."""
    data = {**CHECKPOINT, "date_of_birth": None}
    assessment = services.assess_data(child, "checkpoint", data, actor=worker, now=NOW,
                                      settings=SETTINGS)
    assert {c["id"]: c["outcome"] for c in assessment.criteria}["K1"] == "unknown"
    with pytest.raises(services.DiversionError,
                       match=r"K1 is not known, and cannot be overridden: Date of birth not "
                             r"known.*Record their date of birth on the person's record, then "
                             r"assess again and decide"):
        services.decide(assessment, "eligible", "The lead says so", actor=lead, now=NOW)
    assert assessment.decided_at is None


def decided(action="assessment:decided"):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id.desc())).first()


def test_outcome22_is_decided_eligible_only_with_the_leads_public_interest_rationale(
        child, worker, lead):
    """O3 passed on the rationale typed with the facts, so the lead decided
    eligible with none of their own (audit: not overridden, no rationale;
    found by review). The lead's rationale is now O3's record."""
    assessment = services.assess_data(child, "outcome22", OUTCOME22, actor=worker, now=NOW,
                                      settings=SETTINGS)
    o3 = assessment.criteria[2]
    assert assessment.result == "needs_review" and o3["outcome"] == "unknown"
    assert o3["reason"].startswith("A public-interest rationale is proposed")
    with pytest.raises(services.DiversionError) as refused:
        services.decide(assessment, "eligible", "  ", actor=lead, now=NOW)
    assert refused.value.problems == {"rationale": (
        "Record why further action is not in the public interest: Outcome 22 (O3) needs the "
        "deciding lead's rationale to decide eligible")}
    assert assessment.decided_at is None and assessment.criteria[2] == o3
    services.decide(assessment, "eligible", "Restorative work serves the victim better",
                    actor=lead, now=NOW)
    db.session.commit()
    assert assessment.criteria[2] == {
        "id": "O3", "outcome": "pass",
        "reason": "The deciding lead recorded why further action is not in the public "
                  "interest (the decision's rationale)."}
    assert assessment.result == "eligible"
    assert assessment.facts["public_interest_rationale"] == "First offence"  # as proposed
    assert decided().detail == {"result": "eligible", "decision": "eligible",
                                "overridden": False, "rationale_given": True,
                                "public_interest_recorded": True}


def test_outcome22_with_another_criterion_not_known_is_still_an_override(child, worker, lead):
    assessment = services.assess_data(child, "outcome22", {**OUTCOME22, "agrees_to_engage": None},
                                      actor=worker, now=NOW, settings=SETTINGS)
    services.decide(assessment, "eligible", "Agreed on the phone", actor=lead, now=NOW)
    assert assessment.criteria[2]["outcome"] == "pass" and assessment.result == "needs_review"
    assert decided().detail["overridden"] is True
    # deciding ineligible records no O3: it stays not known
    other = services.assess_data(child, "outcome22", OUTCOME22, actor=worker, now=NOW,
                                 settings=SETTINGS)
    with pytest.raises(services.DiversionError, match="give a rationale"):
        services.decide(other, "ineligible", None, actor=lead, now=NOW)
    services.decide(other, "ineligible", "Prosecution is in the public interest", actor=lead,
                    now=NOW)
    assert other.criteria[2]["outcome"] == "unknown" and other.result == "needs_review"
    assert decided().detail["public_interest_recorded"] is False


@pytest.mark.parametrize("previous", [
    {"offence": "theft"}, {"category": "other", "description": "Vehicle taking"}])
def test_checkpoint_very_minor_history_is_the_deciding_leads_judgement(child, worker, lead,
                                                                       previous):
    """K4's "very minor" is a decision maker's judgement (DESIGN): nothing the
    caseworker gives meets it; the lead decides with a rationale."""
    assessment = services.assess_data(child, "checkpoint", {**CHECKPOINT, "previous_outcomes": [
        {**previous, "outcome_code": 8, "date": "2025-01-01"}]},
        actor=worker, now=NOW, settings=SETTINGS)
    assert assessment.result == "needs_review" and assessment.criteria[3]["outcome"] == "unknown"
    assert "a decision maker must judge whether it is very minor" in \
        assessment.criteria[3]["reason"]
    with pytest.raises(services.DiversionError, match="give a rationale to decide eligible"):
        services.decide(assessment, "eligible", None, actor=lead, now=NOW)
    services.decide(assessment, "eligible", "One community resolution, two years ago",
                    actor=lead, now=NOW)
    assert decided().detail == {"result": "needs_review", "decision": "eligible",
                                "overridden": True, "rationale_given": True}


def test_a_lead_may_decide_against_the_other_criteria(child, worker, lead):
    # K3 to K6 and O3 to O5 are judgements a lead may make, with a rationale
    assessment = services.assess_data(
        child, "checkpoint", {**CHECKPOINT, "aggravating_factors": ["group_context"],
                              "admits_offence": False, "sufficient_evidence": False},
        actor=worker, now=NOW, settings=SETTINGS)
    assert assessment.result == "ineligible"
    services.decide(assessment, "eligible", "Peripheral; admitted later", actor=lead, now=NOW)
    assert assessment.decision == "eligible"


def test_the_diversion_lifecycle_to_completion(child, worker, lead):
    assessment = eligible_assessment(child, worker, lead)
    case = services.offer(assessment, actor=worker, now=EARLY)
    with pytest.raises(services.DiversionError, match="already exists"):
        services.offer(assessment, actor=worker, now=EARLY)
    with pytest.raises(services.DiversionError, match="cannot be completed"):
        services.advance(case, services.Step("completed", date(2026, 11, 21)), actor=lead,
                         now=NOW, settings=SETTINGS)
    services.advance(case, services.Step("active", date(2026, 7, 1)), actor=worker,
                     now=datetime(2026, 7, 1, tzinfo=UTC), settings=SETTINGS)
    assert case.due_date == date(2026, 10, 21)  # 16 weeks for Checkpoint
    assert services.overdue(case, date(2026, 10, 22)) and not services.overdue(
        case, date(2026, 10, 21))
    assert services.cases(None, overdue_on=date(2026, 10, 22)) == [case]
    assert services.cases(None, overdue_on=date(2026, 10, 21)) == []
    services.advance(case, services.Step("completed", date(2026, 10, 30)), actor=lead,
                     now=NOW, settings=SETTINGS)
    db.session.commit()
    assert case.status == "completed" and case.outcome_code == 22
    assert not services.overdue(case, date(2026, 11, 1))
    assert [a for a in actions() if a.startswith("diversion:")] == [
        "diversion:offered", "diversion:started", "diversion:completed"]


DEFERRED = {"variant": "deferred_prosecution", "accepts_responsibility": True}


@pytest.mark.parametrize(("scheme", "facts", "configured", "closes_as"), [
    ("outcome22", DEFERRED, 23, 23),  # a child's deferred prosecution
    ("checkpoint", {}, 23, 23),  # Checkpoint is one
    ("outcome22", {}, 23, 22),  # an Outcome 22 diversion is not
    ("outcome22", {**DEFERRED, "date_of_birth": "2008-05-01"}, 23, 22),  # 18 at the offence
    ("outcome22", {**DEFERRED, "date_of_birth": "2008-05-02"}, 23, 23),  # 17 at the offence
    ("outcome22", DEFERRED, 22, 22),
    ("checkpoint", {}, 22, 22),
])
def test_outcome_23_closes_only_a_childs_deferred_prosecution(child, worker, lead, scheme,
                                                              facts, configured, closes_as):
    data = {**(CHECKPOINT if scheme == "checkpoint" else OUTCOME22),
            "date_of_birth": "2010-03-01", **facts}
    assessment = services.assess_data(child, scheme, data, actor=worker, now=EARLY,
                                      settings=SETTINGS)
    services.decide(assessment, "eligible", None if assessment.result == "eligible" else "x",
                    actor=lead, now=EARLY)
    case = services.offer(assessment, actor=worker, now=EARLY)
    settings = services.Settings(SETTINGS.weeks, configured, SETTINGS.minimum_intensity)
    services.advance(case, services.Step("active", date(2026, 8, 1)), actor=worker, now=NOW,
                     settings=settings)
    assert case.due_date == (date(2026, 10, 24) if scheme == "outcome22"
                             else date(2026, 11, 21))  # 12 weeks, or 16 for Checkpoint
    services.advance(case, services.Step("completed", date(2026, 10, 20)), actor=lead,
                     now=NOW, settings=settings)
    assert case.outcome_code == closes_as


@pytest.mark.parametrize("ending", ["completed", "failed", "withdrawn"])
def test_a_lead_decides_how_a_diversion_ends(child, worker, lead, ending):
    case = services.offer(eligible_assessment(child, worker, lead), actor=worker, now=EARLY)
    assert services.steps_for(case, worker) == ["active"]
    assert services.steps_for(case, lead) == ["active", "withdrawn"]
    services.advance(case, services.Step("active", date(2026, 8, 1)), actor=worker, now=NOW,
                     settings=SETTINGS)
    assert services.steps_for(case, worker) == []
    assert services.steps_for(case, lead) == ["completed", "failed", "withdrawn"]
    with pytest.raises(services.DiversionError, match="A lead decides how a diversion ends"):
        services.advance(case, services.Step(ending, date(2026, 10, 20), "A reason"),
                         actor=worker, now=NOW, settings=SETTINGS)
    assert case.status == "active"
    services.advance(case, services.Step(ending, date(2026, 10, 20), "A reason"), actor=lead,
                     now=NOW, settings=SETTINGS)
    assert case.status == ending


def test_a_failed_diversion_is_re_referred_and_its_outcome_recorded(child, worker, lead):
    case = services.offer(eligible_assessment(child, worker, lead), actor=worker, now=EARLY)
    services.advance(case, services.Step("active", date(2026, 11, 1)), actor=worker, now=NOW,
                     settings=SETTINGS)
    with pytest.raises(services.DiversionError) as refused:
        services.advance(case, services.Step("failed", date(2026, 10, 31), ""), actor=lead,
                         now=NOW, settings=SETTINGS)
    assert set(refused.value.problems) == {"on", "reason"}
    with pytest.raises(services.DiversionError, match="only for a failed case"):
        services.record_later_outcome(case, 1, actor=lead, now=NOW)
    services.advance(case, services.Step("failed", date(2026, 11, 15),
                                         "Missed four sessions; re-referred to police"),
                     actor=lead, now=NOW, settings=SETTINGS)
    assert case.status == "failed" and case.outcome_code is None
    with pytest.raises(services.DiversionError, match="Select the outcome code"):
        services.record_later_outcome(case, 99, actor=lead, now=NOW)
    services.record_later_outcome(case, 1, actor=lead, now=NOW)
    db.session.commit()
    assert case.later_outcome_code == 1
    details = json.dumps([e.detail for e in db.session.scalars(select(AuditEvent))])
    assert "Missed four sessions" not in details
    assert "diversion:outcome_recorded" in actions()


def test_an_offer_needs_an_eligible_decision_and_can_be_withdrawn(child, worker, lead):
    assessment = services.assess_data(child, "checkpoint", CHECKPOINT, actor=worker, now=NOW,
                                      settings=SETTINGS)
    with pytest.raises(services.DiversionError, match="only after a lead decides"):
        services.offer(assessment, actor=worker, now=EARLY)
    services.decide(assessment, "eligible", None, actor=lead, now=NOW)
    case = services.offer(assessment, actor=worker, now=EARLY)
    services.advance(case, services.Step("withdrawn", date(2026, 11, 21), "Family moved"),
                     actor=lead, now=NOW, settings=SETTINGS)
    assert case.status == "withdrawn" and case.end_reason == "Family moved"


def test_admins_edit_the_catalogue_with_an_audit_trail(make_user):
    admin = make_user("admin", ())
    offence = db.session.scalars(select(Offence).where(Offence.key == "theft")).one()
    original = (offence.gravity, offence.title)
    try:
        with pytest.raises(services.DiversionError) as refused:
            services.update_offence(offence, services.OffenceChange("", "Theft Act", "nope", 9,
                                                                    True), actor=admin, now=NOW)
        assert set(refused.value.problems) == {"title", "category", "gravity"}
        services.update_offence(offence, services.OffenceChange(
            "Theft", "Theft Act 1968 s1", "acquisitive", 3, True), actor=admin, now=NOW)
        db.session.commit()
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "offence:updated")).one()
        assert event.detail == {"gravity": {"before": 2, "after": 3}}
        assert services.catalogue()["theft"].gravity == 3
    finally:
        offence.gravity, offence.title = original
        db.session.commit()


def test_an_assessment_keeps_the_reference_data_its_rules_read(child, worker, make_user):
    """The same facts give another result once an admin corrects the
    catalogue: each assessment keeps the entry (and Outcome 22's intensity
    table) as it stood, so its result can be explained afterwards."""
    admin = make_user("admin", ())
    offence = db.session.scalars(select(Offence).where(Offence.key == "theft")).one()
    original = offence.gravity
    try:
        before = services.assess_data(child, "outcome22", OUTCOME22, actor=worker, now=NOW,
                                      settings=SETTINGS)
        services.update_offence(offence, services.OffenceChange(
            offence.title, offence.legislation, offence.category, 4, True), actor=admin, now=NOW)
        after = services.assess_data(child, "outcome22", OUTCOME22, actor=worker, now=NOW,
                                     settings=SETTINGS)
        db.session.commit()
        assert (before.result, after.result) == ("needs_review", "ineligible")
        assert before.facts["reference_data"]["offences"]["theft"]["gravity"] == original
        assert after.facts["reference_data"]["offences"]["theft"]["gravity"] == 4
        assert before.facts["reference_data"]["minimum_intensity"] == {
            "1": "light", "2": "light", "3": "structured", "4": "intensive", "5": None}
    finally:
        offence.gravity = original
        db.session.commit()
    checkpoint = services.assess_data(
        child, "checkpoint", {**CHECKPOINT, "previous_outcomes": [
            {"offence": "theft", "outcome_code": 1, "date": "2025-01-01"}]},
        actor=worker, now=NOW, settings=SETTINGS)
    assert set(checkpoint.facts["reference_data"]["offences"]) == {"bladed_article_s139", "theft"}
    assert "minimum_intensity" not in checkpoint.facts["reference_data"]


def test_an_assessment_keeps_a_previous_outcome_not_in_the_catalogue_as_given(child, worker):
    """In the facts' own shape: its category and description, no key, and no
    catalogue entry among the reference data."""
    previous = [{"offence": "theft", "outcome_code": 8, "date": "2024-06-01"},
                {"category": "acquisitive", "description": "Vehicle taking",
                 "outcome_code": 2, "date": "2025-01-01"}]
    assessment = services.assess_data(child, "checkpoint",
                                      {**CHECKPOINT, "previous_outcomes": previous},
                                      actor=worker, now=NOW, settings=SETTINGS)
    assert assessment.facts["previous_outcomes"] == previous
    assert set(assessment.facts["reference_data"]["offences"]) == {"bladed_article_s139",
                                                                   "theft"}
    assert assessment.result == "needs_review"
    assert "Vehicle taking, an offence not in the catalogue (acquisitive)" in \
        assessment.criteria[3]["reason"]


# sent twice at the same moment (PostgreSQL; one after the other in
# tests/web/test_diversion_sent_twice.py)

FORM = {"offence_date": ["1", "10", "2026"], "offence": "bladed_article_s139",
        "admits_offence": "yes", "sufficient_evidence": "yes"}


@pytest.mark.postgres
def test_an_assessment_double_clicked_at_the_same_moment_is_one(app, child, worker):
    """Both requests ran the rules before either committed: two assessments,
    each of which could be decided and offered its own diversion. The second's
    claim of the form's key now waits for the first, and is sent to it."""
    from casework.submissions import new_key
    from tests.integration.test_concurrent_writes import _sent_at_once

    form = {**FORM, "submission": new_key()}
    results, errors = _sent_at_once(app, worker.email,
                                    f"/people/{child.id}/assessments/new/checkpoint",
                                    form, form)
    assert not errors and sorted(results.values()) == [302, 302], (results, errors)
    recorded = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "assessment:recorded")).all()
    assert len(recorded) == 1


@pytest.mark.postgres
def test_an_offer_double_clicked_at_the_same_moment_is_one_case(app, child, worker, lead):
    from casework.submissions import new_key
    from tests.integration.test_concurrent_writes import _sent_at_once

    assessment = eligible_assessment(child, worker, lead)
    form = {"submission": new_key()}
    results, errors = _sent_at_once(app, worker.email, f"/assessments/{assessment.id}/case",
                                    form, form)
    assert not errors and sorted(results.values()) == [302, 302], (results, errors)
    assert actions().count("diversion:offered") == 1


@pytest.mark.postgres
def test_a_step_double_clicked_at_the_same_moment_is_one(app, child, worker, lead):
    """The second waits for the first's lock on the case and finds its key
    claimed: told the step was saved, not that the case "was changed after
    this page was opened"."""
    from casework.submissions import new_key
    from tests.integration.test_concurrent_writes import _sent_at_once

    case = services.offer(eligible_assessment(child, worker, lead), actor=worker, now=EARLY)
    db.session.commit()
    form = {"target": "active", "on": ["1", "7", "2026"], "submission": new_key(),
            "version": services.case_version(case)}
    results, errors = _sent_at_once(app, worker.email, f"/diversion/{case.id}/step", form, form)
    assert not errors and sorted(results.values()) == [302, 302], (results, errors)
    assert actions().count("diversion:started") == 1


@pytest.mark.postgres
def test_two_leads_ending_a_case_at_once_are_told_it_has_ended(app, child, worker, lead,
                                                               make_user):
    """Both leads' pages showed the case active and both passed the step
    page's own check; the second waited for the first's lock and then met
    transition(failed, completed): "A case that is failed cannot be
    completed", where SQLite (whose writers take turns) said "This diversion
    has ended (failed)". The service now tells the second what SQLite does."""
    import threading

    from casework.accounts.models import User
    from casework.diversion.models import DiversionCase
    from tests.integration.test_concurrent_writes import _run

    other = make_user("lead", ("coventry",), email="yoslead2@example.org")
    case = services.offer(eligible_assessment(child, worker, lead), actor=worker, now=EARLY)
    services.advance(case, services.Step("active", date(2026, 7, 1)), actor=worker,
                     now=NOW, settings=SETTINGS)
    db.session.commit()
    ids = {"case": case.id, "lead": lead.id, "other": other.id}
    checked, ended = threading.Event(), threading.Event()

    def completes():
        actor = db.session.get(User, ids["other"])
        record = db.session.get(DiversionCase, ids["case"])
        drawn = services.case_version(record)  # the page, drawn while active
        assert services.step_refusal(record, actor, based_on=drawn) is None  # the view's check
        checked.set()
        ended.wait(30)
        services.advance(record, services.Step("completed", date(2026, 10, 20), None, drawn),
                         actor=actor, now=NOW, settings=SETTINGS)

    def fails():
        checked.wait(30)
        record = db.session.get(DiversionCase, ids["case"])
        services.advance(record, services.Step("failed", date(2026, 10, 20), "Missed sessions",
                                               services.case_version(record)),
                         actor=db.session.get(User, ids["lead"]), now=NOW, settings=SETTINGS)
        db.session.commit()
        ended.set()

    _, errors = _run(completes, fails)
    assert set(errors) == {0} and isinstance(errors[0], services.DiversionError), errors
    assert errors[0].problems == {None: "This diversion has ended (failed)"}
    db.session.expire_all()
    assert db.session.get(DiversionCase, ids["case"]).status == "failed"
