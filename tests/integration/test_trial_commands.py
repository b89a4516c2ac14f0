"""``flask eligibility assess --scheme cirv`` and ``flask trial sequence``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.trial import sequence

FACTS = {
    "date_of_birth": "2010-03-01", "referral_date": "2026-06-01", "site": "coventry",
    "group_violence_evidence": ["weapon_carrying"], "panel_confirmed": True,
    "already_randomised": False, "exclusions": [],
}


def assess(runner, facts, scheme="cirv"):
    payload = facts if isinstance(facts, str) else json.dumps(facts)
    return runner.invoke(args=["eligibility", "assess", "--scheme", scheme, "-"], input=payload)


def test_assess_prints_the_decision_in_the_stable_shape(runner):
    result = assess(runner, FACTS)
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert set(decision) == {"scheme", "ruleset_version", "result", "criteria"}
    assert decision["scheme"] == "cirv" and decision["result"] == "eligible"
    assert [c["id"] for c in decision["criteria"]] == ["C1", "C2", "C3", "C4", "C5"]
    assert all(set(c) == {"id", "outcome", "reason"} for c in decision["criteria"])


def test_assess_reads_a_file(runner, tmp_path):
    path = tmp_path / "facts.json"
    path.write_text(json.dumps({**FACTS, "date_of_birth": None}))
    result = runner.invoke(args=["eligibility", "assess", "--scheme", "cirv", str(path)])
    decision = json.loads(result.output)
    assert decision["result"] == "needs_review"
    assert decision["criteria"][0] == {
        "id": "C1", "outcome": "unknown",
        "reason": "Date of birth not known, so age cannot be checked; "
                  "CIRV is for people aged 14 or over."}


def test_assess_knows_a_site_an_admin_added_with_a_digit_in_its_key(runner, now):
    """It refused "west_mids2", a key the admin pages allow (found by review)."""
    from casework.accounts import services as accounts

    accounts.create_site("west_mids2", "West Midlands 2", actor=None, now=now)
    db.session.commit()
    result = assess(runner, {**FACTS, "site": "west_mids2"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["criteria"][1]["outcome"] == "fail"  # not a trial site


def test_assess_names_exclusions_by_the_titles_admins_keep(runner, now):
    """C5 names an exclusion as the triage page does: by the title an admin
    gave it (the exclusions table), not only the four the code once held."""
    from casework.triage import exclusions

    exclusions.add_exclusion("Subject to a gang injunction", actor=None, now=now)
    db.session.commit()
    result = assess(runner, {**FACTS, "exclusions": ["subject_to_a_gang_injunction",
                                                     "mappa_managed"]})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["criteria"][4] == {
        "id": "C5", "outcome": "fail",
        "reason": "Excluded: Subject to a gang injunction and managed under MAPPA at level 2 "
                  "or 3."}


def test_assess_takes_where_the_person_lives_as_the_triage_page_does(runner, make_trial):
    """C2 passes where the person lives in a trial site (DESIGN.md: "lives
    in, or the violence relates to"), as the triage page now has it; the
    command had no field for it, so it failed every such person."""
    make_trial()  # Coventry and Wolverhampton
    elsewhere = {**FACTS, "site": "birmingham"}
    assert json.loads(assess(runner, elsewhere).output)["criteria"][1]["outcome"] == "fail"
    result = assess(runner, {**elsewhere, "home": "coventry"})
    assert result.exit_code == 0, result.output
    c2 = json.loads(result.output)["criteria"][1]
    assert c2["outcome"] == "pass" and "lives in Coventry" in c2["reason"]
    assert json.loads(assess(runner, {**elsewhere, "home": None}).output)["criteria"][1][
        "outcome"] == "fail"
    refused = assess(runner, {**elsewhere, "home": "atlantis"})
    assert refused.exit_code == 2 and "home" in refused.output
    assert "Must be a local authority such as coventry." in refused.output


def test_assess_uses_the_configured_trial_sites(runner, make_trial):
    make_trial(sites=("birmingham",))
    decision = json.loads(assess(runner, {**FACTS, "site": "birmingham"}).output)
    assert decision["criteria"][1]["outcome"] == "pass"
    decision = json.loads(assess(runner, FACTS).output)
    assert decision["criteria"][1]["outcome"] == "fail"


def test_assess_agrees_with_the_triage_page_when_no_trial_is_open(runner, make_trial,
                                                                  make_referral,
                                                                  triage_referral):
    """With the only trial closed, C2 passed here (the design's default
    sites) and failed on the triage page; the defaults are for a database
    with no trial at all."""
    from casework.triage import services as triage
    from casework.trial.models import TrialStatus

    decision = json.loads(assess(runner, FACTS).output)
    assert decision["criteria"][1] == {
        "id": "C2", "outcome": "pass",
        "reason": "Site is Coventry; the trial runs in Coventry and Wolverhampton."}
    make_trial(status=TrialStatus.CLOSED)
    triaged = triage_referral(make_referral("coventry"))

    def c2_here_and_on_the_page():
        return (json.loads(assess(runner, FACTS).output)["criteria"][1],
                triage.assess(triaged).criterion("C2").to_dict())

    fail = {"id": "C2", "outcome": "fail", "reason": "Site is Coventry; no trial is open."}
    assert c2_here_and_on_the_page() == (fail, fail)
    make_trial(sites=("birmingham",), key="cirv-b", name="Birmingham trial")
    fail = {**fail, "reason": "Site is Coventry; the trial runs only in Birmingham."}
    assert c2_here_and_on_the_page() == (fail, fail)


@pytest.mark.parametrize(("facts", "message"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    # a traceback before (exit 1): a number past Python's digit limit, deep nesting
    ('{"referral_date": ' + "1" * 5000 + "}", "not valid JSON: Exceeds the limit"),
    ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    # the last was taken silently (found by review)
    (json.dumps(FACTS)[:-1] + ', "site": "birmingham"}',
     "site: The facts give this field more than once; give it once."),
    ({**FACTS, "shoe_size": 9}, "shoe_size: Unknown field."),
    ({k: v for k, v in FACTS.items() if k != "referral_date"},
     "referral_date: Missing data for required field."),
    ({**FACTS, "date_of_birth": "01/03/2010"}, "date_of_birth: Not a valid date."),
    ({**FACTS, "panel_confirmed": "yes"}, "panel_confirmed: Must be true or false."),
    ({**FACTS, "already_randomised": None}, "already_randomised: Field may not be null."),
    ({**FACTS, "group_violence_evidence": ["rumour"]}, "group_violence_evidence.0: Must be one of"),
    ({**FACTS, "exclusions": "none"}, "exclusions: Not a valid list."),
    ({**FACTS, "site": "narnia"}, "site: Unknown site 'narnia'"),
    # typing slips, not facts ("aged 7989, eligible" before)
    ({**FACTS, "referral_date": "9999-12-31"}, "referral_date: Must be a date from 1900 to 2099."),
    ({**FACTS, "date_of_birth": "0001-01-01"}, "date_of_birth: Must be a date from 1900 to 2099."),
    ({**FACTS, "date_of_birth": "2026-06-02"},
     "referral_date: The referral date is before the person's date of birth (2 June 2026)."),
])
def test_bad_facts_exit_2_naming_the_field(runner, facts, message):
    result = assess(runner, facts)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_assess_reads_facts_that_begin_with_a_byte_order_mark(runner, tmp_path):
    """Found by review: a file saved with a UTF-8 byte order mark (Windows
    Notepad) was refused as bad JSON."""
    path = tmp_path / "facts.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(FACTS).encode())
    for source, stdin in ((str(path), None), ("-", path.read_bytes())):
        result = runner.invoke(args=["eligibility", "assess", "--scheme", "cirv", source],
                               input=stdin)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["result"] == "eligible"


def test_unknown_scheme_and_missing_file_are_usage_errors(runner, tmp_path):
    result = assess(runner, FACTS, scheme="astrology")
    assert result.exit_code == 2 and "astrology" in result.output
    result = runner.invoke(args=["eligibility", "assess", "--scheme", "cirv",
                                 str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "missing.json" in result.output


def test_sequence_prints_the_stratum_and_is_audited(app, runner, make_trial):
    trial = make_trial()
    result = runner.invoke(args=["trial", "sequence", "--stratum", "wolverhampton",
                                 "--count", "10"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "slot,arm,block,block_size" and len(lines) == 11
    for line in lines[1:]:
        slot, arm, block, size = line.split(",")
        expected = sequence.slot(b"test-trial-key", "cirv", "wolverhampton", int(slot),
                                 trial.design)
        assert (arm, int(block), int(size)) == (expected.arm, expected.block, expected.block_size)
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "trial:sequence_printed")).one()
    assert event.detail["stratum"] == "wolverhampton" and event.detail["count"] == 10
    assert "treatment" not in json.dumps(event.detail)


@pytest.mark.parametrize(("args", "message"), [
    (["--stratum", "dudley", "--count", "5"], "--stratum: 'dudley' is not a stratum"),
    (["--stratum", "coventry", "--count", "5", "--trial", "nope"], "--trial: no trial"),
])
def test_sequence_refuses_bad_options(runner, make_trial, args, message):
    make_trial()
    result = runner.invoke(args=["trial", "sequence", *args])
    assert result.exit_code == 2 and message in result.stderr
    assert not db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "trial:sequence_printed")).all()


def _randomise(make_referral, triage_referral, make_user, key: bytes, count: int = 1):
    from datetime import UTC, datetime

    from casework.triage import services

    lead = make_user("lead", ("coventry",))
    for _ in range(count):
        services.decide(triage_referral(make_referral("coventry")), "eligible", None,
                        actor=lead, now=datetime(2026, 11, 21, tzinfo=UTC), key=key)
        db.session.commit()


def test_sequence_refuses_a_key_other_than_the_allocations(runner, make_trial, make_referral,
                                                           triage_referral, make_user):
    """Three people randomised under another key: the configured key's
    sequence is not theirs, so nothing is printed (it printed the new key's
    arms, which the statistician would take for theirs); exit 2, audited."""
    make_trial()
    _randomise(make_referral, triage_referral, make_user, b"key-one", 3)
    result = runner.invoke(args=["trial", "sequence", "--stratum", "coventry", "--count", "5"])
    assert result.exit_code == 2 and "slot,arm" not in result.stdout
    assert "The trial key has changed" in result.stderr
    assert sequence.key_fingerprint(b"key-one") in result.stderr
    assert sequence.key_fingerprint(b"test-trial-key") in result.stderr
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "trial:sequence_refused")).one()
    assert event.detail["allocations_key_fingerprints"] == [sequence.key_fingerprint(b"key-one")]
    assert not db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "trial:sequence_printed")).all()


def test_sequence_under_the_allocations_key_prints_and_names_it(
        runner, make_trial, make_referral, triage_referral, make_user):
    make_trial()
    _randomise(make_referral, triage_referral, make_user, b"test-trial-key", 2)
    result = runner.invoke(args=["trial", "sequence", "--stratum", "coventry", "--count", "3"])
    assert result.exit_code == 0 and "Warning" not in result.stderr
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "trial:sequence_printed")).one()
    assert event.detail["version"] == sequence.keyed_version(b"test-trial-key")


def test_sequence_warns_of_allocations_that_record_no_key(runner, make_trial, make_referral,
                                                          triage_referral, make_user):
    """Rows stored before allocations recorded their key: printed, with a
    warning that nothing shows which key made them."""
    from sqlalchemy import text

    from casework.trial.models import Allocation

    make_trial()
    _randomise(make_referral, triage_referral, make_user, b"key-one", 2)
    if db.engine.dialect.name == "postgresql":  # past the append-only triggers, as stored
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(Allocation.__table__.update().values(sequence_version=sequence.VERSION))
    db.session.commit()
    result = runner.invoke(args=["trial", "sequence", "--stratum", "coventry", "--count", "3"])
    assert result.exit_code == 0 and result.stdout.startswith("slot,arm")
    assert "Warning: 2 of CIRV trial's allocations were stored before" in result.stderr


def test_sequence_needs_the_key(make_app, make_trial):
    app = make_app(TRIAL_KEY=None)
    with app.app_context():
        make_trial()
        result = app.test_cli_runner().invoke(args=["trial", "sequence", "--stratum",
                                                    "coventry", "--count", "3"])
    assert result.exit_code == 2 and "TRIAL_KEY" in result.stderr


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="Linux's /proc")
def test_a_file_that_opens_but_cannot_be_read_is_a_message_not_a_traceback(runner):
    """/proc/self/mem opens, and its first read fails (an I/O error): the
    command printed a traceback and exited 1 (found by review)."""
    result = runner.invoke(args=["eligibility", "assess", "--scheme", "cirv", "/proc/self/mem"])
    assert result.exit_code == 2 and "could not be read" in result.output
    assert "Traceback" not in result.output
