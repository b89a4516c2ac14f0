"""``flask seed-demo --people``: the synthetic history is one that could have
happened (found by review): everyone acts at sites they hold, nothing is
dated before the person was referred or after the seed ran, and triage and
randomisation follow their referrals within weeks."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import func, select

from casework.accounts.models import Site, User
from casework.audit.models import AuditEvent
from casework.database import local_today, utcnow
from casework.dates import local_date
from casework.extensions import db
from casework.intake.models import Person, Referral
from casework.notes.models import Note
from casework.triage.models import Triage
from casework.trial.models import Allocation
from tests.conftest import demo_seeded_app


@pytest.fixture(scope="module")
def seeded_app(migrated):
    """One seed for the module, which its tests only read: seeded for each,
    the seed was most of the module's time (10 seconds a test on
    PostgreSQL). The id of its last audit event too: the tests' exports
    write after it."""
    with demo_seeded_app(migrated, 300, 7) as app:
        with app.app_context():
            last_event = db.session.scalar(select(func.max(AuditEvent.id)))
            db.session.commit()
        yield app, last_event


@pytest.fixture
def seeded(seeded_app):
    app, last_event = seeded_app
    with app.app_context():
        yield last_event


@pytest.fixture
def runner(seeded_app, seeded):
    return seeded_app[0].test_cli_runner()


def _users():
    return {user.id: user for user in db.session.scalars(select(User))}


def test_every_seeded_action_at_a_site_is_by_someone_holding_it(seeded, runner):
    users = _users()
    acted = db.session.execute(
        select(AuditEvent.actor_id, AuditEvent.site_id, AuditEvent.action)
        .where(AuditEvent.actor_id.is_not(None), AuditEvent.site_id.is_not(None))).all()
    actions = {action for _, _, action in acted}
    assert {"note:created", "person:viewed", "triage:recorded", "triage:decided",
            "allocation:created", "referral:status_changed"} <= actions
    breaches = [(users[actor].email, site, action) for actor, site, action in acted
                if users[actor].is_site_scoped and site not in users[actor].site_ids]
    assert breaches == []
    # the records say so too: the caseworker opens the triages they submitted
    for triage in db.session.scalars(select(Triage)):
        assert triage.site_id in users[triage.submitted_by_id].site_ids
        if triage.decided_by_id is not None:
            assert triage.site_id in users[triage.decided_by_id].site_ids
    for author, site in db.session.execute(select(Note.author_id, Note.site_id)).all():
        assert site in users[author].site_ids
    # the demo users act at their own sites only; synthetic leads at the others
    sites = {site.id: site.key for site in db.session.scalars(select(Site))}
    by_demo = defaultdict(set)
    for actor, site, _ in acted:
        by_demo[users[actor].email].add(sites[site])
    assert by_demo["caseworker@casework.example"] == {"coventry"}
    assert by_demo["lead@casework.example"] == {"coventry", "wolverhampton"}
    assert "lead-birmingham@casework.example" in by_demo
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


def test_no_seeded_note_or_contact_comes_before_the_person_was_referred(seeded):
    first_referral = dict(db.session.execute(
        select(Referral.person_id, func.min(Referral.referral_date))
        .group_by(Referral.person_id)).all())
    created = dict(db.session.execute(
        select(AuditEvent.subject_id, AuditEvent.occurred_at)
        .where(AuditEvent.action == "person:created")).all())
    notes = db.session.execute(select(
        Note.person_id, Note.created_at, Note.contact_date, Note.kind)).all()
    assert sum(note.kind == "contact" for note in notes) > 500
    for note in notes:
        assert note.created_at > created[str(note.person_id)]
        if note.contact_date is not None:
            assert note.contact_date >= first_referral[note.person_id], note
    opened = db.session.execute(
        select(AuditEvent.subject_id, func.min(AuditEvent.occurred_at))
        .where(AuditEvent.action == "person:viewed").group_by(AuditEvent.subject_id)).all()
    assert all(at > created[person] for person, at in opened)


def test_a_seeded_contacts_text_fits_its_type_and_whether_they_came(seeded):
    """A body is written for one contact type, attended or not: "Contact:
    mentoring, not attended" over "Met at the youth centre" was the seed's."""
    fits = defaultdict(set)
    for body, contact_type, attended in db.session.execute(
            select(Note.body, Note.contact_type, Note.attended)
            .where(Note.kind == "contact")).all():
        fits[body].add((contact_type, attended))
    assert len(fits) > 10
    assert {body: kinds for body, kinds in fits.items() if len(kinds) > 1} == {}
    for body, [(contact_type, attended)] in fits.items():
        if contact_type != "phone":
            assert "phone" not in body.lower(), body
        if not attended:
            assert any(word in body for word in ("did not", "nobody", "no answer")), body


def test_the_seeded_timeline_ends_today_and_each_step_follows_its_referral(seeded):
    today, now = local_today(), utcnow()
    assert db.session.scalar(select(func.max(Referral.referral_date))) >= today - timedelta(7)
    assert db.session.scalar(select(func.max(Referral.referral_date))) <= today
    assert db.session.scalar(select(func.max(AuditEvent.occurred_at))) <= now
    assert db.session.scalar(select(func.max(Note.created_at))) <= now
    triages = db.session.execute(
        select(Triage.submitted_at, Triage.decided_at, Referral.referral_date)
        .join(Referral, Referral.id == Triage.referral_id)).all()
    assert len(triages) > 20
    for submitted_at, decided_at, referred_on in triages:
        assert referred_on < local_date(submitted_at) <= referred_on + timedelta(days=10)
        if decided_at is not None:
            assert submitted_at < decided_at <= submitted_at + timedelta(days=30)
    # the lead's queue: waiting days, not all "today"; none waiting for months
    waiting = [(today - local_date(submitted_at)).days
               for submitted_at, decided_at, _ in triages if decided_at is None]
    assert waiting and max(waiting) > 0 and max(waiting) < 60
    # randomised weeks after referral, so in the age band they were referred in
    allocations = db.session.execute(
        select(Allocation.allocated_at, Referral.referral_date, Person.date_of_birth)
        .join(Referral, Referral.id == Allocation.referral_id)
        .join(Person, Person.id == Allocation.person_id)).all()
    assert len(allocations) > 10
    assert all(0 < (local_date(at) - referred_on).days <= 45
               for at, referred_on, _ in allocations)
    # the events of a triage are at its moments, not at the seed's
    recorded = dict(db.session.execute(
        select(AuditEvent.subject_id, AuditEvent.occurred_at)
        .where(AuditEvent.action == "triage:recorded")).all())
    for triage_id, submitted_at in db.session.execute(select(Triage.id, Triage.submitted_at)):
        assert recorded[str(triage_id)] == submitted_at


def test_only_a_triaged_referral_is_closed_as_triage_complete(seeded):
    untriaged = db.session.scalar(
        select(func.count()).select_from(Referral)
        .where(Referral.closed_reason == "triage_complete",
               ~select(Triage.id).where(Triage.referral_id == Referral.id).exists()))
    assert untriaged == 0
    closed = db.session.execute(select(Referral.referral_date, Referral.closed_at)
                                .where(Referral.status == "closed")).all()
    assert len(closed) > 30
    assert all(referred_on <= local_date(at) for referred_on, at in closed)


def test_the_demo_trials_consort_counts_every_referral_at_its_sites(seeded, runner, tmp_path):
    """The trial opens before the history it randomises in: made the moment
    the seed ran, it would not count the referrals closed before that."""
    import json

    at_sites = (select(func.count()).select_from(Referral)
                .join(Site, Site.id == Referral.site_id)
                .where(Site.key.in_(["coventry", "wolverhampton"])))
    result = runner.invoke(args=["export", "consort", "--out", str(tmp_path / "consort.svg")])
    assert result.exit_code == 0, result.output
    counts = json.loads((tmp_path / "consort.json").read_text())
    assert counts["referred"] == db.session.scalar(at_sites)
    closed = db.session.scalar(at_sites.where(Referral.status == "closed"))
    assert closed > 5 and counts["closed_before_triage"] == closed
    assert counts["randomised"] == db.session.scalar(
        select(func.count()).select_from(Allocation))


def test_a_seeded_contact_with_a_control_arm_person_is_a_recorded_deviation(seeded, runner,
                                                                             tmp_path):
    """Once randomised to control a person has no programme contact: the
    seed's later notes on them are case notes, and the few contacts made all
    the same are recorded as the notes service records any (a deviation,
    linked and audited). The seed wrote contacts after "Randomised to
    control" that no deviation recorded (found by review)."""
    import json

    from casework.pathways.models import ProtocolDeviation

    control = dict(db.session.execute(
        select(Allocation.person_id, Allocation.allocated_at)
        .where(Allocation.arm == "control")).all())
    assert len(control) > 5
    later = [note for note in db.session.execute(
        select(Note.id, Note.person_id, Note.kind, Note.contact_date, Note.created_at,
               Note.protocol_deviation_id).where(Note.person_id.in_(control))).all()
        if note.created_at > control[note.person_id]]
    assert len(later) > 20  # their cases go on being written up
    contacts = [note for note in later
                if note.kind == "contact"
                and note.contact_date >= local_date(control[note.person_id])]
    assert [note.id for note in contacts if note.protocol_deviation_id is None] == []
    deviations = {row.id: row for row in db.session.scalars(select(ProtocolDeviation))}
    for note in contacts:
        deviation = deviations[note.protocol_deviation_id]
        assert (deviation.person_id, deviation.occurred_on) == (note.person_id,
                                                                note.contact_date)
    # few: most control-arm people have none
    deviating = {row.person_id for row in deviations.values()}
    assert 0 < len(deviating) <= len(control) // 3
    assert all(person in control for person in deviating)
    # audited as the services audit them
    recorded = {event.detail["deviation_id"] for event in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "deviation:recorded"))}
    assert recorded == set(deviations)
    flagged = {event.detail["protocol_deviation_id"] for event in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "note:created"))} - {None}
    assert flagged == {note.protocol_deviation_id for note in contacts}
    result = runner.invoke(args=["export", "consort", "--out", str(tmp_path / "consort.svg")])
    assert result.exit_code == 0, result.output
    counts = json.loads((tmp_path / "consort.json").read_text())
    assert counts["control_deviations"] == len(deviating)


def test_the_seeded_audit_log_runs_in_time_order(seeded):
    """Ids and timestamps rise together, as in real use: the triage,
    decisions and pathway moves were written after ``demo:seeded``, two
    years back (found by review), and the users who write the history, made
    the moment the seed ran, came before it."""
    events = db.session.execute(
        select(AuditEvent.id, AuditEvent.occurred_at, AuditEvent.action)
        .where(AuditEvent.id <= seeded).order_by(AuditEvent.id)).all()
    assert [event.action for event in events[:5]] == ["user:created"] * 4 + ["trial:created"]
    assert {"triage:recorded", "triage:decided", "allocation:created",
            "demo:seeded"} <= {event.action for event in events}
    back = [(before, after) for before, after in pairwise(events)
            if after.occurred_at < before.occurred_at]
    assert back == []
    assert events[-1].action == "demo:seeded"
