"""Writers racing on PostgreSQL (a review's reproductions, kept): each
check that decides whether a write may happen reads the row as it is under
its lock, not as the request first found it. On SQLite every writer holds
the database write lock, so these races cannot happen there.

Each test's docstring tells what happened before the fix it keeps.

Where two requests must overlap at one point, each thread runs what the
view runs (the same service calls, in its own app context and session) and
a threading.Event holds one of them where a slow request would be; nothing
in the application is patched.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from casework.accounts.models import User
from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.intake.models import Referral
from casework.intake.reference import CLOSE_REASONS
from casework.triage import services as triage_services
from casework.triage.models import Triage
from casework.trial import sequence
from casework.trial import services as trials
from casework.trial.models import Allocation, Trial, TrialStatus
from tests.conftest import PASSWORD, csrf_token, sign_in

pytestmark = pytest.mark.postgres

KEY = b"test-trial-key"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def lead(make_user):
    return make_user("lead", ("coventry", "wolverhampton"), email="lead@example.org")


def _run(*targets, timeout=60):
    """Run each target in its own thread with its own app context; return
    (results, errors) by index."""
    from flask import current_app

    app = current_app._get_current_object()
    results: dict[int, object] = {}
    errors: dict[int, BaseException] = {}

    def wrap(i, fn):
        try:
            with app.app_context():
                try:
                    results[i] = fn()
                finally:
                    db.session.remove()
        except BaseException as error:  # reported by the test
            errors[i] = error

    db.session.commit()
    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return results, errors


# 2. Triage facts changed after the lead's decision locked them ----------------

def test_triage_facts_cannot_change_after_the_decision(app, make_trial, make_referral,
                                                       triage_referral, lead, make_user):
    """A caseworker saves triage facts (POST /referrals/<id>/triage) while a
    lead decides the triage eligible. The view loads the triage (undecided)
    and then record_triage re-reads it from the session's identity map, so
    the save is applied on top of the decision: a decided, randomised triage
    whose facts now say 'excluded, panel did not confirm'."""
    make_trial()
    referral = make_referral("coventry")
    triage_id = triage_referral(referral).id
    worker = make_user("caseworker", ("coventry",), email="tw@example.org")
    ids = dict(worker=worker.id, lead=lead.id, referral=referral.id)
    loaded, decided = threading.Event(), threading.Event()

    def caseworker_saves():
        actor = db.session.get(User, ids["worker"])
        ref = db.session.get(Referral, ids["referral"])
        triage = triage_services.triage_for(ref)  # the view's own check: not decided
        assert not triage.is_decided
        loaded.set()
        decided.wait(30)  # the lead's decision commits meanwhile
        triage_services.record_triage(ref, triage_services.TriageFacts(
            group_violence_evidence=["recent_violence"], panel_confirmed=False,
            exclusions=["other_focused_deterrence"], recommendation="ineligible"),
            actor=actor, now=NOW)
        db.session.commit()

    def lead_decides():
        loaded.wait(30)
        actor = db.session.get(User, ids["lead"])
        triage_services.decide(db.session.get(Triage, triage_id), "eligible", None,
                               actor=actor, now=NOW, key=KEY)
        db.session.commit()
        decided.set()

    _, errors = _run(caseworker_saves, lead_decides)
    # the save is refused (the lead's decision is seen); the decision stands
    assert {i: type(e).__name__ for i, e in errors.items()} == {0: "TriageError"}, errors
    db.session.expire_all()
    triage = db.session.get(Triage, triage_id)
    assert triage.is_decided and triage.allocation_id is not None
    events = list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.subject_type == "triage").order_by(AuditEvent.id)))
    assert (triage.exclusions, triage.panel_confirmed) == ([], True), (
        f"facts changed after the decision: exclusions={triage.exclusions}, "
        f"panel_confirmed={triage.panel_confirmed}; triage events {events}; errors {errors}")


# 3. A closed referral is put back into triage (closed -> in_triage) ----------

def test_a_closed_referral_is_never_triaged(app, make_trial, make_referral, lead, make_user):
    """A caseworker records the first triage while a colleague closes the
    referral. record_triage checks the status it loaded before the close
    committed, then writes in_triage over closed (a transition the workflow
    forbids); the lead can then decide it and randomise a closed referral."""
    from casework.intake import services as intake

    make_trial()
    referral = make_referral("coventry")
    worker = make_user("caseworker", ("coventry",), email="tw2@example.org")
    ids = dict(worker=worker.id, referral=referral.id)
    loaded, closed = threading.Event(), threading.Event()

    def caseworker_triages():
        actor = db.session.get(User, ids["worker"])
        ref = db.session.get(Referral, ids["referral"])  # the view's get_in_scope_or_404
        assert triage_services.triage_for(ref) is None and ref.status == "received"
        loaded.set()
        closed.wait(30)
        triage_services.record_triage(ref, triage_services.TriageFacts(
            group_violence_evidence=["recent_violence"], panel_confirmed=True,
            recommendation="eligible"), actor=actor, now=NOW)
        db.session.commit()

    def colleague_closes():
        loaded.wait(30)
        actor = db.session.get(User, ids["worker"])
        intake.close_referral(db.session.get(Referral, ids["referral"]), "duplicate",
                              actor=actor, now=NOW)
        db.session.commit()
        closed.set()

    _, errors = _run(caseworker_triages, colleague_closes)
    assert {i: type(e).__name__ for i, e in errors.items()} == {0: "TriageError"}, errors
    db.session.expire_all()
    status = db.session.get(Referral, referral.id).status
    triage = triage_services.triage_for(db.session.get(Referral, referral.id))
    assert status == "closed" and triage is None, (
        f"referral closed, then status={status!r} with a triage {triage and triage.id}; "
        f"errors {errors}")


# 4. The trial's design changes after its first allocation ---------------------

def _while_a_randomisation_is_uncommitted(triage_id: int, lead_id: int, act) -> dict:
    """The lead decides ``triage_id`` eligible (randomising it); before that
    commits, ``act()`` runs in another thread (an admin's change to the
    trial), then commits. The errors, by thread (0 the lead's, 1 the act's)."""
    allocated, go_on = threading.Event(), threading.Event()

    def lead_decides():
        triage_services.decide(db.session.get(Triage, triage_id), "eligible", None,
                               actor=db.session.get(User, lead_id), now=NOW, key=KEY)
        allocated.set()  # allocated and audited, about to commit
        go_on.wait(30)
        db.session.commit()

    def then_act():
        allocated.wait(30)
        threading.Timer(1.0, go_on.set).start()  # the act waits on the lead's locks
        act()
        db.session.commit()

    return _run(lead_decides, then_act)[1]


def test_the_design_cannot_change_once_someone_is_randomised(
        app, make_trial, make_referral, triage_referral, lead, make_user):
    """An admin saves new trial settings (ratio 2:1, blocks 3, 6) while the
    first eligible decision is being recorded. has_allocations() reads
    before the decision commits, so the 'frozen once randomised' check
    passes; the allocation is made under 1:1 and the trial then says 2:1.
    The statistician's regenerated sequence (flask trial sequence) no longer
    matches the stored allocation for some keys, and every later slot in the
    stratum follows a different design from the first."""
    trial = make_trial(sites=("coventry",))
    triage_id = triage_referral(make_referral("coventry")).id
    admin = make_user("admin", (), email="admin@example.org")
    ids = dict(admin=admin.id, trial=trial.id)

    def admin_saves():
        t = db.session.get(Trial, ids["trial"])
        trials.save_trial(t, trials.TrialSettings(
            name=t.name, site_keys=["coventry"], ratio_treatment=2, ratio_control=1,
            block_sizes=[3, 6]), actor=db.session.get(User, ids["admin"]), now=NOW)

    errors = _while_a_randomisation_is_uncommitted(triage_id, lead.id, admin_saves)
    assert {i: type(e).__name__ for i, e in errors.items()} == {1: "TrialError"}, errors
    db.session.expire_all()
    t = db.session.get(Trial, trial.id)
    allocation = db.session.scalars(select(Allocation)).one()
    regenerated = sequence.slot(KEY, t.key, "coventry", 1, t.design).arm
    assert (t.ratio, list(t.block_sizes)) == ("1:1", [2, 4, 6]), (
        f"design changed to {t.ratio} {t.block_sizes} after slot 1 was allocated "
        f"({allocation.arm}; the sequence under the stored design says {regenerated}); "
        f"errors {errors}")


def test_the_allocation_list_cannot_be_replaced_once_someone_is_randomised(
        app, make_trial, make_referral, triage_referral, lead, make_user):
    """Method B: an admin replaces the allocation list while the first
    decision is recorded. The allocation is taken from the old list
    (sequence_version names its SHA-256), and the old list's rows are then
    deleted: the database no longer holds the list the allocation came from."""
    from casework.trial.models import AllocationMethod

    trial = make_trial(sites=("coventry",), method=AllocationMethod.ALLOCATION_LIST,
                       allocation_list=b"stratum,slot,arm\ncoventry,1,treatment\n"
                                       b"coventry,2,control\n")
    admin = make_user("admin", (), email="admin2@example.org")
    triage_id = triage_referral(make_referral("coventry")).id
    ids = dict(admin=admin.id, trial=trial.id)

    def admin_uploads():
        trials.upload_allocation_list(db.session.get(Trial, ids["trial"]),
                                      b"stratum,slot,arm\ncoventry,1,control\n"
                                      b"coventry,2,treatment\n", "two.csv",
                                      actor=db.session.get(User, ids["admin"]), now=NOW)

    errors = _while_a_randomisation_is_uncommitted(triage_id, lead.id, admin_uploads)
    assert {i: type(e).__name__ for i, e in errors.items()} == {1: "TrialError"}, errors
    db.session.expire_all()
    t = db.session.get(Trial, trial.id)
    allocation = db.session.scalars(select(Allocation)).one()
    assert allocation.sequence_version == f"list-sha256:{t.allocation_list_sha256}", (
        f"allocation {allocation.arm} from {allocation.sequence_version}, but the stored "
        f"list is now {t.allocation_list_filename} {t.allocation_list_sha256}, whose slot 1 "
        f"says control; errors {errors}")


def test_one_child_recorded_twice_is_not_randomised_twice_at_once(
        app, make_trial, make_referral, triage_referral, make_user):
    """Two records of one child (the same PNC reference), at Coventry and
    at Wolverhampton, each decided eligible by its site's lead at the same
    moment, from pages on which C4 said "Never randomised before". Each
    decision locked its own record only, so each C4 looked before the
    other's allocation was committed: the child was randomised twice. Now
    the second waits for the first, then finds C4 changed (a strong match is
    randomised) and is sent back to the lead (FactsChanged)."""
    make_trial()
    first, second = make_referral("coventry"), make_referral("wolverhampton")
    first.person.pnc_reference = second.person.pnc_reference = "2001/0012345A"
    db.session.commit()
    seen = {}
    ids = {}
    for name, referral, sites in (("one", first, ("coventry",)),
                                  ("two", second, ("wolverhampton",))):
        triage = triage_referral(referral)
        assessment = triage_services.assess(triage)
        assert assessment.criterion("C4").reason == "Never randomised before."
        seen[name] = triage_services.decision_version(triage, assessment)
        ids[name] = triage.id
        ids[f"lead_{name}"] = make_user("lead", sites, email=f"lead-{name}@example.org").id
    allocated, go_on = threading.Event(), threading.Event()

    def decide(name):
        triage_services.decide(db.session.get(Triage, ids[name]), "eligible", None,
                               actor=db.session.get(User, ids[f"lead_{name}"]), now=NOW,
                               key=KEY, based_on=seen[name])

    def coventry_decides():
        decide("one")
        allocated.set()  # randomised, not yet committed
        go_on.wait(30)
        db.session.commit()

    def wolverhampton_decides():
        allocated.wait(30)
        threading.Timer(1.0, go_on.set).start()
        decide("two")
        db.session.commit()

    _, errors = _run(coventry_decides, wolverhampton_decides)
    assert {i: type(e).__name__ for i, e in errors.items()} == {1: "FactsChanged"}, errors
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 1


# 5. Two open trials for one site ----------------------------------------------

def test_one_open_trial_per_site_under_concurrency(app, make_user):
    """Two admins each create an open trial for Coventry at once: both pass
    _open_trial_conflict (each checks before the other commits)."""
    admin = make_user("admin", (), email="admin3@example.org")
    ids = dict(admin=admin.id)
    first_flushed, go_on = threading.Event(), threading.Event()

    def create(key, hold):
        def run():
            actor = db.session.get(User, ids["admin"])
            if not hold:
                first_flushed.wait(30)
                threading.Timer(1.0, go_on.set).start()
            trials.save_trial(None, trials.TrialSettings(
                key=key, name=key, site_keys=["coventry"]), actor=actor, now=NOW)
            if hold:
                first_flushed.set()
                go_on.wait(30)
            db.session.commit()
        return run

    _, errors = _run(create("first", True), create("second", False))
    assert {i: type(e).__name__ for i, e in errors.items()} == {1: "TrialError"}, errors
    open_for_coventry = db.session.scalars(select(Trial.key).where(
        Trial.status == TrialStatus.OPEN)).all()
    assert len(open_for_coventry) == 1, (open_for_coventry, errors)


def _sent_at_once(app, email, path, *forms):
    """Each form posted to ``path`` at the same moment, each from its own
    client signed in as ``email`` (a double click, or two tabs)."""
    sent = []
    for form in forms:
        client = app.test_client()
        sign_in(client, email, PASSWORD)
        sent.append((client, {**form, "csrf_token": csrf_token(client, path)}))
    barrier = threading.Barrier(len(sent))

    def post(client, data):
        def go():
            barrier.wait()
            return client.post(path, data=data).status_code
        return go

    return _run(*(post(client, data) for client, data in sent))


# 7. Double-clicked first triage save -------------------------------------------

def _blank_triage_form(app, email, referral_id) -> dict:
    """The first triage form's version and submission key, as a page draws them."""
    import re

    client = app.test_client()
    sign_in(client, email, PASSWORD)
    page = client.get(f"/referrals/{referral_id}/triage").get_data(as_text=True)
    return {name: re.search(rf'name="{name}" type="hidden" value="([^"]*)"', page).group(1)
            for name in ("version", "submission")}


def _triage_events(referral_id) -> list[str]:
    triage = db.session.scalars(select(Triage).where(Triage.referral_id == referral_id)).one()
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.subject_type == "triage", AuditEvent.subject_id == str(triage.id))
        .order_by(AuditEvent.id)))


def test_double_clicked_triage_save_is_not_a_server_error(app, make_referral, make_user):
    """Two POSTs of the first triage for one referral: the second met the
    unique index on triages.referral_id and answered 500; it then waited for
    the first (the referral's row lock) and changed the triage it made. Now
    the form's submission key, claimed under that lock, tells the second it
    was saved already: nothing is recorded twice."""
    worker = make_user("caseworker", ("coventry",), email="tw3@example.org")
    referral = make_referral("coventry")
    form = {"group_violence_evidence": ["recent_violence"], "panel_confirmed": "yes",
            "recommendation": "eligible",
            **_blank_triage_form(app, worker.email, referral.id)}
    results, errors = _sent_at_once(app, worker.email, f"/referrals/{referral.id}/triage",
                                    form, form)
    assert not errors
    assert sorted(results.values()) == [302, 302], results
    assert _triage_events(referral.id) == ["triage:recorded"]


def test_two_first_triages_at_once_are_not_saved_over_each_other(app, make_referral,
                                                                  make_user):
    """Two caseworkers, each from the blank form, record a referral's first
    triage at the same moment: the second waited for the first and then
    replaced its facts unseen (a blank form had no version). Now the second
    is sent back (422), the first's facts kept."""
    referral = make_referral("coventry")
    path = f"/referrals/{referral.id}/triage"
    one = make_user("caseworker", ("coventry",), email="tw4@example.org")
    two = make_user("caseworker", ("coventry",), email="tw5@example.org")
    forms = [
        {"group_violence_evidence": ["recent_violence"], "panel_confirmed": "no",
         "exclusions": ["mappa_managed"], "recommendation": "ineligible",
         **_blank_triage_form(app, one.email, referral.id)},
        {"group_violence_evidence": ["weapon_carrying"], "panel_confirmed": "yes",
         "recommendation": "eligible", **_blank_triage_form(app, two.email, referral.id)},
    ]
    sent = []
    for user, form in zip((one, two), forms, strict=True):
        client = app.test_client()
        sign_in(client, user.email, PASSWORD)
        sent.append((client, {**form, "csrf_token": csrf_token(client, path)}))
    barrier = threading.Barrier(2)

    def post(client, data):
        def go():
            barrier.wait()
            return client.post(path, data=data).status_code
        return go

    results, errors = _run(*(post(client, data) for client, data in sent))
    assert not errors, errors
    assert sorted(results.values()) == [302, 422], results
    winner = forms[next(i for i, status in results.items() if status == 302)]
    triage = db.session.scalars(select(Triage).where(Triage.referral_id == referral.id)).one()
    assert triage.exclusions == winner.get("exclusions", [])
    assert _triage_events(referral.id) == ["triage:recorded"]


# 10. Closing a referral twice at once --------------------------------------------

def test_a_double_clicked_close_is_recorded_once(app, make_referral, make_user):
    """Two POSTs of /referrals/<id>/close at once: both read 'received', both
    passed transition(received, closed), the second overwrote the first's
    reason and time, and the log said the referral was closed twice."""
    worker = make_user("caseworker", ("coventry",), email="close@example.org")
    referral = make_referral("coventry")
    results, errors = _sent_at_once(app, worker.email, f"/referrals/{referral.id}/close",
                                    *({"reason": reason} for reason in list(CLOSE_REASONS)[:2]))
    assert not errors, errors
    closed = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "referral:closed", AuditEvent.subject_id == str(referral.id)))
    assert closed == 1, (results, errors, closed)
    # the second is told it is closed already (422 if it met the first under the
    # row's lock, a redirect saying so if the first had committed), not a 500
    assert sorted(results.values()) in ([302, 302], [302, 422]), results


# 11. Two leads reassign one case at once -----------------------------------------

def test_concurrent_reassignments_keep_a_true_history(app, make_referral, make_user):
    """Lead A reassigns a case X -> U1 while lead B reassigns it X -> U2.
    B's read of the person is not locked, so B's handover is recorded
    'from X' although U1 held the case, and A's handover is silently
    overwritten: the assignment history and the audit log both say the case
    went from X twice."""
    from casework.caseload import services as caseload
    from casework.caseload.models import CaseAssignment

    referral = make_referral("coventry")  # recorded by a caseworker: assigned to them
    u1 = make_user("caseworker", ("coventry",), email="u1@example.org")
    u2 = make_user("caseworker", ("coventry",), email="u2@example.org")
    la = make_user("lead", ("coventry",), email="la@example.org")
    lb = make_user("lead", ("coventry",), email="lb@example.org")
    ids = dict(person=referral.person_id, u1=u1.id, u2=u2.id, la=la.id, lb=lb.id)
    a_flushed, a_go = threading.Event(), threading.Event()

    def lead_a():
        caseload.reassign([ids["person"]], ids["u1"], "Workload",
                          actor=db.session.get(User, ids["la"]), now=NOW)
        a_flushed.set()
        a_go.wait(30)
        db.session.commit()

    def lead_b():
        a_flushed.wait(30)
        threading.Timer(1.0, a_go.set).start()
        caseload.reassign([ids["person"]], ids["u2"], "Workload",
                          actor=db.session.get(User, ids["lb"]), now=NOW)
        db.session.commit()

    _, errors = _run(lead_a, lead_b)
    history = db.session.execute(select(CaseAssignment.from_user_id, CaseAssignment.to_user_id)
                                 .where(CaseAssignment.person_id == referral.person_id)
                                 .order_by(CaseAssignment.id)).all()
    tos = [to for _, to in history]
    froms = [fr for fr, _ in history]
    assert not errors, errors
    assert len(history) == 3  # recorded with the referral, then both handovers
    assert all(froms[i + 1] == tos[i] for i in range(len(history) - 1)), (
        f"history (from, to) {history}: a handover from someone who no longer held the "
        f"case; errors {errors}")


