"""Triage and randomisation through the pages: recording facts, the lead's
queue and decision, the allocation shown afterwards, scope, the report and
the trial administration pages."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.intake.models import Referral
from casework.triage.models import Triage
from casework.trial.models import Allocation, AllocationInError, AllocationListEntry, Trial
from tests.conftest import sign_in

FACTS = {"group_violence_evidence": ["recent_violence", "weapon_carrying"],
         "panel_confirmed": "yes", "exclusions": [], "recommendation": "eligible",
         "recommendation_note": "Known to the gangs unit."}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def page_text(response) -> str:
    return response.get_data(as_text=True)


def decision_form(client, triage_id: int) -> dict:
    """The decision form's hidden fields as the triage page draws them now:
    the CSRF token, the version of the facts (and the rules' result) shown,
    and the form's submission key."""
    page = page_text(client.get(f"/triage/{triage_id}"))
    return {name: re.search(rf'name="{name}" type="hidden" value="([^"]+)"', page).group(1)
            for name in ("csrf_token", "version", "submission")}


def facts_version(triage_id: int) -> str:
    """The version of a triage's facts, as their form is drawn with it."""
    from casework.triage import services

    return services.triage_version(db.session.get(Triage, triage_id))


def decide(client, triage_id: int, data: dict):
    """A lead's decision sent from the triage page as it is now."""
    return client.post(f"/triage/{triage_id}/decision",
                       data={**decision_form(client, triage_id), **data})


def test_a_caseworker_records_triage_facts(client, login_as, post, make_trial, make_referral):
    make_trial()
    referral = make_referral("coventry")
    login_as("caseworker", ("coventry",))
    assert client.get(f"/referrals/{referral.id}/triage").status_code == 200

    response = post(f"/referrals/{referral.id}/triage", {"recommendation_note": "Kept text",
                                                         "group_violence_evidence": ["x"]})
    assert response.status_code == 422
    text = page_text(response)
    assert "Select whether the panel has confirmed it" in text
    assert "Select your recommendation" in text
    assert "Kept text" in text
    assert count(Triage) == 0

    response = post(f"/referrals/{referral.id}/triage", FACTS)
    assert response.status_code == 302
    triage = db.session.scalars(select(Triage)).one()
    assert response.headers["Location"].endswith(f"/triage/{triage.id}")
    assert triage.group_violence_evidence == ["recent_violence", "weapon_carrying"]
    assert triage.panel_confirmed is True
    assert triage.recommendation_note == "Known to the gangs unit."
    assert db.session.get(Referral, referral.id).status == "in_triage"

    shown = page_text(client.get(f"/triage/{triage.id}"))
    assert "The rules give: Eligible" in shown and "Waiting for a lead" in shown
    assert "Record decision" not in shown
    response = post(f"/referrals/{referral.id}/triage", {**FACTS, "panel_confirmed": "not_yet",
                                                         "version": facts_version(triage.id)})
    assert response.status_code == 302
    assert "The rules give: Needs review" in page_text(client.get(f"/triage/{triage.id}"))
    events = list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.subject_type == "triage", AuditEvent.action != "triage:viewed")
        .order_by(AuditEvent.id)))
    assert events == ["triage:recorded", "triage:updated"]
    assert "triage:viewed" in set(db.session.scalars(select(AuditEvent.action)))
    assert "gangs unit" not in str([e.detail for e in db.session.scalars(select(AuditEvent))])


def hidden(response, name: str) -> str:
    """The value of a hidden field of the page ``response`` drew."""
    return re.search(rf'name="{name}" type="hidden" value="([^"]*)"',
                     page_text(response)).group(1)


def blank_triage_form(client, referral_id: int) -> dict:
    """The hidden fields of the first triage form, as it is drawn."""
    page = client.get(f"/referrals/{referral_id}/triage")
    return {name: hidden(page, name) for name in ("csrf_token", "version", "submission")}


def test_a_first_triage_recorded_meanwhile_is_not_replaced_unseen(app, make_trial,
                                                                  make_referral, make_user):
    """Two caseworkers open the blank triage form; one records the panel's
    "no" and a MAPPA exclusion, then the other saves. The second replaced
    the first without a word (a blank form had no version to compare): the
    exclusion lost, the triage eligible. Now it comes back, 422, with what
    was typed and what differs; saved again from there, it replaces it
    knowingly."""
    make_trial()
    referral = make_referral("coventry")
    path = f"/referrals/{referral.id}/triage"
    a, b = app.test_client(), app.test_client()
    sign_in(a, make_user("caseworker", ("coventry",), email="first@example.org").email)
    sign_in(b, make_user("caseworker", ("coventry",), email="second@example.org").email)
    form_a, form_b = blank_triage_form(a, referral.id), blank_triage_form(b, referral.id)
    assert form_a["version"] == form_b["version"] == "new"
    assert a.post(path, data={**form_a, "group_violence_evidence": ["recent_violence"],
                              "panel_confirmed": "no", "exclusions": ["mappa_managed"],
                              "recommendation": "ineligible"}).status_code == 302
    typed = {"group_violence_evidence": ["weapon_carrying"], "panel_confirmed": "yes",
             "recommendation": "eligible", "recommendation_note": "Seen by the panel"}

    response = b.post(path, data={**form_b, **typed})
    assert response.status_code == 422
    text = page_text(response)
    assert "Someone else saved changes here since you opened this page." in text
    assert "group violence evidence, panel confirmed, exclusions, recommendation" in text
    assert "Seen by the panel" in text and "Change triage facts" in text
    db.session.expire_all()
    triage = db.session.scalars(select(Triage)).one()
    assert (triage.exclusions, triage.panel_confirmed) == (["mappa_managed"], False)

    # a form sent without a version is taken as a blank one's: refused the same way
    versionless = {**form_b, **typed, "version": ""}
    assert b.post(path, data=versionless).status_code == 422
    again = b.post(path, data={**form_b, **typed, "version": hidden(response, "version")})
    assert again.status_code == 302
    db.session.expire_all()
    triage = db.session.scalars(select(Triage)).one()
    assert (triage.exclusions, triage.panel_confirmed) == ([], True)


def test_a_double_clicked_triage_save_is_saved_once(client, login_as, make_trial,
                                                    make_referral):
    """The same first triage form sent twice: the second is told it was
    saved (the first click's), not that someone else saved it, and nothing
    is recorded twice."""
    make_trial()
    referral = make_referral("coventry")
    login_as("caseworker", ("coventry",))
    path = f"/referrals/{referral.id}/triage"
    sent = {**blank_triage_form(client, referral.id), **FACTS}
    first, second = client.post(path, data=sent), client.post(path, data=sent)
    triage = db.session.scalars(select(Triage)).one()
    assert first.status_code == second.status_code == 302
    assert second.headers["Location"].endswith(f"/triage/{triage.id}")
    assert "This was already saved: it is recorded once" in page_text(
        client.get(second.headers["Location"]))
    events = list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.subject_type == "triage", AuditEvent.action != "triage:viewed")))
    assert events == ["triage:recorded"]


def test_facts_sent_after_the_decision_are_refused_saying_so(client, login_as, make_trial,
                                                             make_referral, triage_referral,
                                                             make_user):
    """A caseworker's change, from a page opened before a lead decided, was
    dropped without a word: the form redirected to the triage page before
    looking at what was sent. Now it comes back, 422, with what was typed
    and why it was not saved; nothing changes."""
    from casework.triage import services

    make_trial()
    referral = make_referral("coventry")
    triage = triage_referral(referral)
    login_as("caseworker", ("coventry",))
    path = f"/referrals/{referral.id}/triage"
    page = client.get(path)
    drawn = {name: hidden(page, name) for name in ("csrf_token", "version", "submission")}
    services.decide(db.session.get(Triage, triage.id), "eligible", None,
                    actor=make_user("lead"), now=datetime(2026, 11, 24, 12, tzinfo=UTC),
                    key=b"test-trial-key")
    db.session.commit()

    response = client.post(path, data={**drawn, "group_violence_evidence": ["recent_violence"],
                                       "panel_confirmed": "no", "exclusions": ["mappa_managed"],
                                       "recommendation": "ineligible",
                                       "recommendation_note": "MAPPA level 3"})
    assert response.status_code == 422
    text = page_text(response)
    assert ("A lead decided this triage on 24 November 2026: its facts are locked, and the "
            "changes below were not saved") in text
    assert "MAPPA level 3" in text and "Save triage" not in text
    assert f'href="/triage/{triage.id}"' in text
    db.session.expire_all()
    kept = db.session.get(Triage, triage.id)
    assert (kept.exclusions, kept.panel_confirmed) == ([], True)
    # the form opened now leads to the decision
    assert client.get(path).headers["Location"].endswith(f"/triage/{triage.id}")


def test_a_closed_referrals_triage_offers_no_decision(client, login_as, post, make_trial,
                                                      make_referral, triage_referral):
    """A referral withdrawn while its triage waited for a lead: the triage
    page still said "The rules give: Eligible" and offered the decision,
    refused only once sent. Now it says the referral is closed and offers
    neither the decision nor a change of facts; a decision sent from a page
    opened before the close is refused saying why."""
    make_trial()
    referral = make_referral("coventry")
    triage = triage_referral(referral)
    login_as("lead", ("coventry",))
    drawn = decision_form(client, triage.id)
    assert post(f"/referrals/{referral.id}/close", {"reason": "withdrawn"}).status_code == 302

    text = page_text(client.get(f"/triage/{triage.id}"))
    assert "This referral was closed on" in text
    assert "(withdrawn by the referrer): a closed referral cannot be decided" in text
    assert "The rules give" not in text and "Record decision" not in text
    assert "Change the facts" not in text
    response = client.post(f"/triage/{triage.id}/decision", data={**drawn,
                                                                  "decision": "eligible"})
    assert response.status_code == 422
    assert "a closed referral cannot be decided" in page_text(response)
    db.session.expire_all()
    assert db.session.get(Triage, triage.id).decided_at is None and count(Allocation) == 0
    # the facts form leads to the triage page, and a change sent is refused saying why
    path = f"/referrals/{referral.id}/triage"
    assert client.get(path).headers["Location"].endswith(f"/triage/{triage.id}")
    response = post(path, {**FACTS, "version": facts_version(triage.id)})
    assert response.status_code == 422
    assert "a closed referral cannot be triaged" in page_text(response)
    assert "Save triage" not in page_text(response)


def test_a_caseworker_cannot_decide(client, login_as, post, make_trial, make_referral,
                                    triage_referral):
    make_trial()
    triage = triage_referral(make_referral("coventry"))
    login_as("caseworker", ("coventry",))
    assert post(f"/triage/{triage.id}/decision", {"decision": "eligible"}).status_code == 403
    assert client.get("/triage").status_code == 403
    assert count(Allocation) == 0


def test_the_queue_is_oldest_first_with_ages(client, login_as, make_trial, make_referral,
                                             triage_referral, monkeypatch):
    make_trial()
    older = triage_referral(make_referral("coventry", last_name="Older"))
    newer = triage_referral(make_referral("wolverhampton", last_name="Newer"))
    elsewhere = triage_referral(make_referral("birmingham", last_name="Elsewhere"))
    # the queue's clock fixed at a noon: nine days of hours before the real
    # one are ten or eight days of England's dates across a clock change, and
    # England's midnight could pass between the test's clock and the page's
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    monkeypatch.setattr("casework.triage.views.utcnow", lambda: now)
    older.submitted_at = now - timedelta(days=9)
    newer.submitted_at = now - timedelta(days=2)
    db.session.commit()
    login_as("lead", ("coventry", "wolverhampton"))
    text = page_text(client.get("/triage"))
    assert text.index("Older</a>") < text.index("Newer</a>")
    assert "Elsewhere" not in text and elsewhere.id
    ages = re.findall(r'govuk-table__cell--numeric">(\d+)<', text)
    assert ages == ["9", "2"]


def test_the_queue_pages_on_to_the_newest(client, login_as, make_referral, triage_referral):
    """It stopped at 200 and said "200 waiting" with 206 waiting: the
    newest could not be reached."""
    from tests.conftest import count_queries

    newest = triage_referral(make_referral("coventry"))
    login_as("lead", ("coventry",))

    def queries(path):
        client.get(path)  # caches warmed
        return count_queries(lambda: client.get(path))

    few = queries("/triage")
    older = [Referral(person_id=newest.person_id, site_id=newest.site_id,
                      referral_date=date(2026, 11, 1), source="police", referrer_name="PC",
                      reason="Reason", status="in_triage") for _ in range(205)]
    db.session.add_all(older)
    db.session.flush()
    db.session.add_all(Triage(referral_id=r.id, person_id=r.person_id, site_id=r.site_id,
                              recommendation="eligible",
                              submitted_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=n))
                       for n, r in enumerate(older))
    db.session.commit()

    first = page_text(client.get("/triage"))
    assert "206 waiting for a decision, oldest first." in first
    assert re.findall(r"R\d{7}", first) == [r.reference for r in older[:50]]
    assert "Page 1 of 5" in first and 'href="/triage?page=2"' in first
    last = page_text(client.get("/triage?page=5"))
    assert re.findall(r"R\d{7}", last) == [r.reference for r in older[200:]] + [
        newest.referral.reference]
    assert "Page 5 of 5" in last and "page=6" not in last
    assert queries("/triage") == queries("/triage?page=5") == few


def test_a_long_queue_is_counted_up_to_the_lists_cap(client, login_as, make_trial,
                                                     make_referral, triage_referral,
                                                     monkeypatch):
    from casework.triage import services

    monkeypatch.setattr(services, "COUNT_CAP", 2)
    waiting = [triage_referral(make_referral("coventry")) for _ in range(4)]
    login_as("lead", ("coventry",))
    page = page_text(client.get("/triage"))
    assert "More than 2 waiting for a decision, oldest first." in page
    assert len(re.findall(r"R\d{7}", page)) == len(waiting)


def test_a_lead_decides_eligible_and_sees_the_allocation(client, login_as, post, make_trial,
                                                         make_referral, triage_referral):
    make_trial()
    referral = make_referral("coventry")
    triage = triage_referral(referral)
    lead = login_as("lead", ("coventry",))
    assert "Record decision" in page_text(client.get(f"/triage/{triage.id}"))

    response = decide(client, triage.id, {"decision": "eligible"})
    assert response.status_code == 302
    allocation = db.session.scalars(select(Allocation)).one()
    assert allocation.allocated_by_id == lead.id
    shown = page_text(client.get(f"/triage/{triage.id}"))
    assert "Decision recorded" in shown
    # the stratum, not the slot, which with the arms a lead sees tells where blocks start
    assert "coventry" in shown and allocation.arm.label in shown and "slot 1" not in shown
    person_page = page_text(client.get(f"/people/{referral.person_id}"))
    assert "Trial allocation" in person_page and allocation.arm.label in person_page
    assert "Decided: eligible" in person_page


def test_a_lead_decides_under_the_trial_open_now(client, login_as, post, make_trial,
                                                make_referral, triage_referral):
    """A triage begun under a trial since closed, with another open now, is
    decided under the one open (it was refused as closed to allocations),
    and the decision names it."""
    from casework.trial import services as trials
    from casework.trial.models import TrialStatus

    first = make_trial(key="cirv-1", name="CIRV one")
    triage = triage_referral(make_referral("coventry"))
    trials.save_trial(first, trials.TrialSettings(
        name=first.name, site_keys=["coventry", "wolverhampton"], status=TrialStatus.CLOSED),
        actor=None, now=datetime.now(UTC))
    db.session.commit()
    make_trial(key="cirv-2", name="CIRV two", sites=("coventry",))
    login_as("lead", ("coventry",))
    assert "The rules give: Eligible" in page_text(client.get(f"/triage/{triage.id}"))
    response = decide(client, triage.id, {"decision": "eligible"})
    assert response.status_code == 302, page_text(response)
    shown = page_text(client.get(f"/triage/{triage.id}"))
    assert re.search(r"Trial\s*</dt>\s*<dd[^>]*>\s*CIRV two", shown)
    assert db.session.scalars(select(Allocation)).one().trial.key == "cirv-2"


def test_an_override_needs_a_rationale_and_age_cannot_be_overridden(
        client, login_as, post, make_trial, make_referral, triage_referral):
    make_trial()
    review = triage_referral(make_referral("coventry"), panel_confirmed=None)
    too_young = triage_referral(make_referral("coventry", dob=date(2015, 1, 1)))
    login_as("lead", ("coventry",))

    response = decide(client, review.id, {"decision": "eligible"})
    assert response.status_code == 422
    assert "give a rationale to decide eligible" in page_text(response)
    assert count(Allocation) == 0 and db.session.get(Triage, review.id).decided_at is None

    response = decide(client, too_young.id,
                      {"decision": "eligible", "rationale": "Mature for his age"})
    assert response.status_code == 422
    assert "C1 (age) is not met and cannot be overridden" in page_text(response)
    assert count(Allocation) == 0

    # no date of birth: C1 is not known (not "not met"), and the lead is told the way on
    unknown_age = triage_referral(make_referral("coventry", dob=None))
    response = decide(client, unknown_age.id, {"decision": "eligible", "rationale": "Looks 16"})
    assert response.status_code == 422
    text = page_text(response)
    assert "C1 (age) is not known, and cannot be overridden" in text
    assert "Record their date of birth on the person&#39;s record, then decide." in text
    assert "C1 (age) is not met" not in text
    assert count(Allocation) == 0

    response = decide(client, review.id,
                      {"decision": "eligible", "rationale": "Panel confirmed by phone"})
    assert response.status_code == 302
    shown = page_text(client.get(f"/triage/{review.id}"))
    assert "Override rationale" in shown and "Panel confirmed by phone" in shown
    assert "triage:overridden" in set(db.session.scalars(select(AuditEvent.action)))


def facts_row(text: str, key: str) -> str:
    """The value beside ``key`` in a summary list, its spaces run together."""
    found = re.search(rf"{re.escape(key)}\s*</dt>\s*<dd[^>]*>(.*?)</dd>", text, re.S)
    return " ".join(found.group(1).split()) if found else ""


def test_a_decided_triage_shows_the_facts_it_was_decided_on(
        client, login_as, make_trial, make_referral, triage_referral):
    """A date of birth corrected after the decision (2008 to 2015) read
    "Date of birth 1 January 2015" beside "Aged 18 on the referral date"
    (met): the page read the person's record as it is now. The decision
    keeps the facts from the referral and the person's record it was
    decided on, and the page shows them, with what the record says now
    where it differs; the audit event says which were known, never what."""
    from casework.intake import services as intake

    make_trial()
    referral = make_referral("coventry", dob=date(2008, 1, 1))
    triage = triage_referral(referral)
    unknown = make_referral("coventry", dob=None)
    unknown_triage = triage_referral(unknown)
    lead = login_as("lead", ("coventry",))
    assert decide(client, triage.id, {"decision": "eligible"}).status_code == 302
    assert decide(client, unknown_triage.id, {
        "decision": "ineligible", "rationale": "No date of birth; referred again if found"},
    ).status_code == 302
    for person, dob in ((referral.person, date(2015, 1, 1)), (unknown.person, date(2009, 3, 4))):
        person = db.session.merge(person)
        intake.update_person(person, intake.PersonDetails(
            person.first_name, person.last_name, dob, person.gender, person.ethnicity,
            "dudley"), actor=lead, now=datetime(2026, 11, 21, 12, tzinfo=UTC))
    db.session.commit()

    shown = page_text(client.get(f"/triage/{triage.id}"))
    assert facts_row(shown, "Date of birth when decided") == (
        "1 January 2008 (their record now says 1 January 2015)")
    assert facts_row(shown, "Local authority when decided") == (
        "Coventry (their record now says Dudley)")
    assert facts_row(shown, "Referral date") == "1 November 2026"  # the same: said once
    assert facts_row(shown, "Referral site") == "Coventry"
    assert "Aged 18 on the referral date" in shown
    shown = page_text(client.get(f"/triage/{unknown_triage.id}"))
    assert facts_row(shown, "Date of birth when decided") == (
        "Not known (their record now says 4 March 2009)")
    unknown_event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "triage:decided",
        AuditEvent.subject_id == str(unknown_triage.id))).one()
    assert unknown_event.detail["date_of_birth_known"] is False

    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "triage:decided", AuditEvent.subject_id == str(triage.id))).one()
    assert (event.detail["date_of_birth_known"], event.detail["home_known"]) == (True, True)
    assert "2008" not in str(event.detail) and "coventry" not in str(event.detail)


def test_a_decision_is_on_the_facts_the_lead_read(client, login_as, make_trial, make_referral,
                                                  triage_referral):
    """A lead opens a triage needing review and writes an override; meanwhile
    a caseworker records the panel's "no" and an exclusion. The decision was
    recorded (302), an override of "ineligible" the lead never saw, and the
    person randomised. Now it is refused, 422, nothing kept, with the facts
    as they are and the rationale typed; sent again from there, it is
    decided on what the page showed."""
    make_trial()
    referral = make_referral("coventry")
    triage = triage_referral(referral, panel_confirmed=None)
    login_as("lead", ("coventry",))
    seen = decision_form(client, triage.id)
    assert "The rules give: Needs review" in page_text(client.get(f"/triage/{triage.id}"))
    triage_referral(referral, panel_confirmed=False, exclusions=["other_focused_deterrence"],
                    recommendation="ineligible")

    response = client.post(f"/triage/{triage.id}/decision",
                           data={**seen, "decision": "eligible",
                                 "rationale": "Intel strong; panel meets next week"})
    assert response.status_code == 422
    text = page_text(response)
    assert "changed since you opened this page: your decision was not recorded" in text
    assert "The rules give: Ineligible" in text
    assert "Already in another focused-deterrence programme" in text
    assert "Intel strong; panel meets next week" in text  # what was typed is kept
    db.session.expire_all()
    assert count(Allocation) == 0 and db.session.get(Triage, triage.id).decided_at is None
    assert db.session.get(Referral, referral.id).status == "in_triage"
    # a form without the version it was drawn from names no facts: not decided on
    response = client.post(f"/triage/{triage.id}/decision",
                           data={"csrf_token": seen["csrf_token"], "decision": "ineligible"})
    assert response.status_code == 422 and "your decision was not recorded" in page_text(response)
    # from the page drawn again: decided on the facts it shows
    version = re.search(r'name="version" type="hidden" value="([^"]+)"', text).group(1)
    response = client.post(f"/triage/{triage.id}/decision",
                           data={**seen, "version": version, "decision": "ineligible"})
    assert response.status_code == 302
    db.session.expire_all()
    decided = db.session.get(Triage, triage.id)
    assert (decided.decision, decided.computed_result) == ("ineligible", "ineligible")
    assert count(Allocation) == 0


def test_a_double_clicked_decision_is_recorded_once_and_says_so(
        client, login_as, make_trial, make_referral, triage_referral):
    """A lead's decision sent twice (a double click): the second answered
    422 "This triage was already decided (eligible)", as if someone else
    had. Now it says the decision was saved, once."""
    make_trial()
    triage = triage_referral(make_referral("coventry"))
    login_as("lead", ("coventry",))
    form = {**decision_form(client, triage.id), "decision": "eligible"}
    first = client.post(f"/triage/{triage.id}/decision", data=form)
    again = client.post(f"/triage/{triage.id}/decision", data=form)
    assert first.status_code == again.status_code == 302
    assert again.location == f"/triage/{triage.id}"
    assert "This was already saved: it is recorded once" in page_text(client.get(again.location))
    assert count(Allocation) == 1
    assert len(db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "triage:decided")).all()) == 1


def test_a_person_recorded_again_as_new_over_a_randomised_match_needs_a_ruling(
        client, login_as, make_trial, make_referral, triage_referral, make_user):
    """A person randomised at Coventry is referred at Wolverhampton and
    recorded as new over the strong match intake showed (same name and date
    of birth): C4 said "Never randomised before" and the copy was randomised
    again, two allocations for one human. Now C4 needs review, naming the
    match by its id and site alone, and a lead must rule with a rationale."""
    from casework.accounts.services import sites_by_keys
    from casework.intake import services as intake
    from casework.triage import services

    make_trial()
    first = make_referral("coventry", last_name="Twiceover")
    services.decide(triage_referral(first), "eligible", None,
                    actor=make_user("lead", ("coventry",)), now=datetime.now(UTC),
                    key=b"test-trial-key")
    db.session.commit()
    held = first.person
    again = intake.record_referral(
        intake.PersonDetails(held.first_name, held.last_name, held.date_of_birth, "male",
                             "white_british", "wolverhampton"),
        intake.ReferralDetails(sites_by_keys(["wolverhampton"])[0].id, date(2026, 11, 10),
                               "police", "PC", "Reason"),
        existing_person_id=None, actor=make_user("caseworker", ("wolverhampton",)),
        now=datetime.now(UTC), new_person_confirmed=True)
    db.session.commit()
    assert again.person_id != held.id
    triage = triage_referral(again)
    login_as("lead", ("wolverhampton",))

    text = page_text(client.get(f"/triage/{triage.id}"))
    assert "The rules give: Needs review" in text
    assert ("Not randomised before under this record, but a record held by Coventry (with "
            "the same name and date of birth) is randomised and may be the same person"
            ) in text
    assert f"person {held.id}" not in text  # another site's: its id is not the reader's
    response = decide(client, triage.id, {"decision": "eligible"})
    assert response.status_code == 422
    assert "give a rationale to decide eligible" in page_text(response)
    assert count(Allocation) == 1
    response = decide(client, triage.id, {"decision": "ineligible",
                                          "rationale": "The same young man: he keeps his"})
    assert response.status_code == 302
    decided = db.session.get(Triage, triage.id)
    assert decided.computed_result == "needs_review" and decided.decision == "ineligible"
    assert {c["id"]: c["outcome"] for c in decided.criteria}["C4"] == "unknown"
    assert count(Allocation) == 1


def test_c4_finds_a_randomised_match_by_pnc_but_not_a_twin(make_trial, make_referral,
                                                            triage_referral, make_user):
    """Twins share a surname and a date of birth, not a first name: no
    match. The same PNC reference (records from before intake refused a
    second) is one; a lead ruling them two people randomises the second."""
    from casework.intake import matching
    from casework.triage import services

    make_trial()
    lead = make_user("lead", ("coventry", "wolverhampton"))
    first = make_referral("coventry", last_name="Twin")
    services.decide(triage_referral(first), "eligible", None, actor=lead,
                    now=datetime.now(UTC), key=b"test-trial-key")
    second = make_referral("wolverhampton", last_name="Twin")
    for person, name in ((first.person, "Lily-Rose"), (second.person, "Lily-Mae")):
        person.first_name, person.first_name_key = name, matching.first_name_key(name)
    db.session.commit()
    triage = triage_referral(second)
    assert services.assess(triage).criterion("C4").reason == "Never randomised before."

    first.person.pnc_reference = second.person.pnc_reference = "2001/0012345A"
    db.session.commit()
    c4 = services.assess(triage).criterion("C4")
    assert str(c4.outcome) == "unknown"
    assert "a record held by Coventry (with the same PNC reference)" in c4.reason
    with pytest.raises(services.TriageError, match="give a rationale"):
        services.decide(triage, "eligible", None, actor=lead, now=datetime.now(UTC),
                        key=b"test-trial-key")
    db.session.rollback()
    services.decide(db.session.get(Triage, triage.id), "eligible",
                    "Checked with the PNC bureau: a typing error on one record", actor=lead,
                    now=datetime.now(UTC), key=b"test-trial-key")
    db.session.commit()
    assert count(Allocation) == 2


def test_a_trial_site_resident_referred_elsewhere_is_randomised_where_they_live(
        client, login_as, make_trial, make_referral, make_user, triage_referral):
    """DESIGN.md C2: the person lives in, or the violence relates to, a
    trial site. A Coventry resident referred through Birmingham failed C2,
    which no lead can override. Now C2 passes saying why, and the person is
    randomised in Coventry's stratum (Birmingham's referral, Birmingham's
    case); one living in Dudley still fails, the sentence saying where."""
    from casework.accounts.services import sites_by_keys
    from casework.intake import services as intake

    make_trial()
    worker = make_user("caseworker", ("birmingham",))

    def referred_at_birmingham(last_name, home):
        referral = intake.record_referral(
            intake.PersonDetails("Lives", last_name, date(2008, 1, 1), "male",
                                 "white_british", home),
            intake.ReferralDetails(sites_by_keys(["birmingham"])[0].id, date(2026, 11, 1),
                                   "police", "PC", "Reason"),
            existing_person_id=None, actor=worker, now=datetime(2026, 11, 20, tzinfo=UTC))
        db.session.commit()
        return triage_referral(referral)

    resident = referred_at_birmingham("Incoventry", "coventry")
    outsider = referred_at_birmingham("Indudley", "dudley")
    login_as("lead", ("birmingham",))
    text = page_text(client.get(f"/triage/{resident.id}"))
    assert "The rules give: Eligible" in text
    assert ("Site is Birmingham, but the person lives in Coventry; the trial runs in Coventry "
            "and Wolverhampton.") in text
    assert decide(client, resident.id, {"decision": "eligible"}).status_code == 302
    allocation = db.session.scalars(select(Allocation)).one()
    assert (allocation.stratum, allocation.slot, allocation.trial.key) == ("coventry", 1, "cirv")
    assert allocation.site_id == resident.site_id == sites_by_keys(["birmingham"])[0].id
    assert db.session.get(Triage, resident.id).trial.key == "cirv"

    text = page_text(client.get(f"/triage/{outsider.id}"))
    assert "The rules give: Ineligible" in text
    assert "Site is Birmingham and the person lives in Dudley; the trial runs only in" in text
    response = decide(client, outsider.id, {"decision": "eligible", "rationale": "x"})
    assert response.status_code == 422 and "cannot be overridden" in page_text(response)
    assert count(Allocation) == 1


def test_other_sites_triage_answers_404(client, login_as, post, make_trial, make_referral,
                                        triage_referral):
    make_trial()
    referral = make_referral("wolverhampton")
    triage = triage_referral(referral)
    login_as("lead", ("coventry",))
    assert client.get(f"/triage/{triage.id}").status_code == 404
    assert post(f"/triage/{triage.id}/decision", {"decision": "eligible"}).status_code == 404
    assert client.get(f"/referrals/{referral.id}/triage").status_code == 404
    assert count(Allocation) == 0
    denied = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "access:denied")).all()
    assert len(denied) == 3 and {e.site_id for e in denied} == {referral.site_id}


def _strip_tokens(text: str) -> str:
    text = re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", text)
    text = re.sub(r'nonce="[^"]+"', "", text)
    return re.sub(r'value="[^"]{20,}"', "", text)


def test_no_page_before_the_decision_depends_on_the_next_slot(make_app, make_trial,
                                                              make_referral, triage_referral):
    """Two trial keys whose first coventry slot differs render the same pages:
    nothing shown before a decision can reveal the upcoming allocation."""
    from casework.trial import sequence

    keys = [b"key-a"] + [b"key-%d" % i for i in range(100)]
    design = sequence.BlockDesign()
    first = sequence.slot(keys[0], "cirv", "coventry", 1, design).arm
    other = next(k for k in keys[1:]
                 if sequence.slot(k, "cirv", "coventry", 1, design).arm != first)
    make_trial()
    triage = triage_referral(make_referral("coventry"))
    from casework.accounts import services as accounts

    accounts.create_user(email="lead@example.org", display_name="Lead", role="lead",
                         sites=accounts.sites_by_keys(["coventry"]),
                         password="correct horse battery staple", actor=None,
                         now=datetime.now(UTC))
    db.session.commit()
    pages = []
    for key in (keys[0], other):
        client = make_app(TRIAL_KEY=key).test_client()
        sign_in(client, "lead@example.org")
        pages.append([_strip_tokens(page_text(client.get(path))) for path in (
            f"/triage/{triage.id}", "/triage", f"/people/{triage.person_id}", "/allocations")])
    assert pages[0] == pages[1]


def test_a_decision_under_a_changed_trial_key_is_refused_on_the_page(
        client, login_as, post, make_trial, make_referral, triage_referral, make_user):
    """People randomised under one key, then the server's key changed: the
    lead's eligible decision is refused with the reason beside the form
    (422, not a 500), the triage stays undecided, no slot is used, and the
    refusal is audited (it was accepted, its slot following the new key's
    sequence, with the same sequence version as the others)."""
    from casework.triage import services
    from casework.trial import sequence

    make_trial()
    for _ in range(3):
        services.decide(triage_referral(make_referral("coventry")), "eligible", None,
                        actor=make_user("lead", ("coventry",)), now=datetime.now(UTC),
                        key=b"key-one")
        db.session.commit()
    triage = triage_referral(make_referral("coventry"))
    login_as("lead", ("coventry",))

    response = decide(client, triage.id, {"decision": "eligible"})
    assert response.status_code == 422
    text = page_text(response)
    assert "The trial key has changed" in text and "Nobody can be randomised" in text
    assert sequence.key_fingerprint(b"key-one") in text
    db.session.expire_all()
    assert count(Allocation) == 3
    assert db.session.get(Triage, triage.id).decided_at is None
    assert db.session.get(Referral, triage.referral_id).status == "in_triage"
    refusal = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "allocation:refused")).one()
    assert refusal.detail == {
        "trial": "cirv", "referral_id": triage.referral_id, "reason": "trial_key_changed",
        "key_fingerprint": sequence.key_fingerprint(b"test-trial-key"),
        "allocations_key_fingerprints": [sequence.key_fingerprint(b"key-one")]}
    assert not db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "triage:decided", AuditEvent.subject_id == str(triage.id))).all()


def test_a_used_up_allocation_list_is_refused_on_the_page(
        client, login_as, post, make_trial, make_referral, triage_referral):
    """The list has no slot for the next person: the decision is refused
    beside the form, nothing of it is kept, and the refusal is audited."""
    make_trial(sites=("coventry",), method="allocation_list",
               allocation_list=b"stratum,slot,arm\ncoventry,1,control\n")
    done = triage_referral(make_referral("coventry"))
    waiting = triage_referral(make_referral("coventry"))
    login_as("lead", ("coventry",))
    assert decide(client, done.id, {"decision": "eligible"}).status_code == 302

    response = decide(client, waiting.id, {"decision": "eligible"})
    assert response.status_code == 422
    assert "The allocation list has no slot 2 for stratum coventry" in page_text(response)
    db.session.expire_all()
    assert count(Allocation) == 1 and db.session.get(Triage, waiting.id).decided_at is None
    assert db.session.get(Referral, waiting.referral_id).status == "in_triage"
    refusal = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "allocation:refused")).one()
    assert refusal.detail["reason"] == "allocation_list_short"
    assert refusal.detail["slot"] == 2


def test_the_report_for_leads_and_evaluators(app, client, login_as, make_trial, make_referral,
                                             triage_referral, make_user):
    import re

    from casework.dates import long_date
    from casework.triage import services

    make_trial(stratify_by_age_band=True)
    referral = make_referral("coventry", last_name="Distinctive", dob=date(2009, 1, 1))
    on = datetime(2026, 6, 17, 9, 0, tzinfo=UTC)
    services.decide(triage_referral(referral), "eligible", None,
                    actor=make_user("lead", ("coventry",)), now=on, key=b"test-trial-key")
    db.session.commit()
    login_as("evaluator", ())
    html = client.get("/allocations").get_data(as_text=True)
    text = page_text(client.get("/allocations"))
    assert "By stratum and arm" in text and "coventry" in text
    assert "Distinctive" not in text and "/people/" not in text
    # recent allocations at an extract's least detail: the year and the
    # stratum's age as "under 25", never the day, the month or 14-17, which
    # the list, in an extract's row order, would give back (found by review)
    recent = html.split("Recent allocations", 1)[1]
    cells = re.findall(r'<td class="govuk-table__cell">([^<]*)</td>', recent)
    assert cells[:2] == ["2026", "coventry/under 25"], cells
    assert long_date(on) not in text and "June 2026" not in text
    assert "Slot" not in recent
    # a lead sees the day and the site, not the stratum (which the person's page
    # shows): the report for those who randomise leaves out what would tell the
    # next arm (test_the_report_tells_a_lead_nothing_of_the_next_arm)
    lead = app.test_client()
    sign_in(lead, make_user("lead", ("coventry",), email="report-lead@example.org").email)
    seen = lead.get("/allocations").get_data(as_text=True).split("Recent allocations", 1)[1]
    assert long_date(on) in seen and "coventry" in seen and "14-17" not in seen
    assert db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "allocation:report_viewed")).first() is not None


def test_the_report_tells_a_lead_nothing_of_the_next_arm(app, client, make_trial, make_referral,
                                                        triage_referral, make_user):
    """The report showed leads, whose decisions randomise, the block sizes,
    each stratum's counts by arm and imbalance, and the recent slots with
    their arms: at an imbalance of 3 the next arms were certain, and
    guessing the arm behind was right about 70% of the time, so a lead could
    hold a triage until the arm they wanted came (found by review). Now a
    lead sees how many were randomised at each site, and the recent
    allocations without arm, stratum or slot; the evaluator, who does not
    randomise, still sees the balance."""
    from casework.triage import services

    make_trial()
    lead = make_user("lead", ("coventry",), email="panelchair@example.org")
    for _ in range(5):
        services.decide(triage_referral(make_referral("coventry")), "eligible", None,
                        actor=lead, now=datetime.now(UTC), key=b"test-trial-key")
        db.session.commit()
    arms = list(db.session.scalars(select(Allocation.arm)))
    sign_in(client, lead.email)
    html = page_text(client.get("/allocations"))
    for hidden in ("block sizes", "Imbalance", "Treatment", "Control", "Slot", "Stratum",
                   "By stratum and arm"):
        assert hidden not in html, hidden
    assert re.search(r'>coventry</th>\s*<td[^>]*>5</td>\s*<td[^>]*>0</td>', html), html
    assert html.count("/people/") == 5
    evaluator = app.test_client()
    sign_in(evaluator, make_user("evaluator", ()).email)
    html = page_text(evaluator.get("/allocations"))
    for shown in ("block sizes 2, 4, 6", "Imbalance", "By stratum and arm"):
        assert shown in html, shown
    treatment = arms.count("treatment")
    assert re.search(rf'>coventry</th>\s*<td[^>]*>{treatment}</td>\s*<td[^>]*>{5 - treatment}<',
                     html)


def test_an_evaluators_recent_allocations_give_back_no_age_band(app, client, login_as,
                                                                make_trial, make_referral,
                                                                triage_referral, make_user):
    """Age-band strata, the recent list coarsened to "coventry/under 25":
    its slots (1, 3, 2, 1), each stratum numbering its own, told which band
    each row was (found by review). Now the evaluator's list shows no slot,
    and the rows of the two bands read the same."""
    from casework.triage import services

    make_trial(stratify_by_age_band=True)
    lead = make_user("lead", ("coventry",))
    on = datetime(2026, 6, 17, 9, 0, tzinfo=UTC)
    for dob in (date(2009, 1, 1), date(2009, 2, 1), date(2004, 1, 1)):
        services.decide(triage_referral(make_referral("coventry", dob=dob)), "eligible", None,
                        actor=lead, now=on, key=b"test-trial-key")
        db.session.commit()
    login_as("evaluator", ())
    recent = page_text(client.get("/allocations")).split("Recent allocations", 1)[1]
    rows = [re.findall(r"<td[^>]*>\s*([^<]*?)\s*</td>", row)
            for row in re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', recent, re.S)]
    rows = [row for row in rows if row]  # the header row has no cells
    assert len(rows) == 3 and "Slot" not in recent
    arms = dict(db.session.execute(select(Allocation.id, Allocation.arm)).all())
    assert sorted(tuple(row) for row in rows) == sorted(
        ("2026", "coventry/under 25", arm.label) for arm in arms.values())


def test_the_report_is_refused_to_caseworkers(client, login_as, make_trial):
    make_trial()
    login_as("caseworker", ("coventry",))
    assert client.get("/allocations").status_code == 403


def test_a_lead_sees_their_sites_allocations_with_links(client, login_as, make_trial,
                                                        make_referral, triage_referral,
                                                        make_user):
    from casework.triage import services

    make_trial()
    lead = make_user("lead", ("coventry", "wolverhampton"))
    for site in ("coventry", "wolverhampton"):
        services.decide(triage_referral(make_referral(site)), "eligible", None, actor=lead,
                        now=datetime.now(UTC), key=b"test-trial-key")
    db.session.commit()
    login_as("lead", ("wolverhampton",))
    text = page_text(client.get("/allocations"))
    assert "wolverhampton" in text and ">coventry<" not in text
    assert text.count("/people/") == 1


# trial administration

def test_admin_adds_and_changes_a_trial(client, login_as, post):
    login_as("admin", ())
    assert client.get("/admin/trials").status_code == 200
    response = post("/admin/trials/new", {
        "name": "", "key": "Bad Key", "sites": [], "ratio_treatment": "1",
        "ratio_control": "1", "method": "permuted_blocks", "block_sizes": "3, 5",
        "status": "open"})
    assert response.status_code == 422
    text = page_text(response)
    assert "Enter the trial&#39;s name" in text or "Enter the trial's name" in text
    assert "Select at least one site" in text
    assert count(Trial) == 0

    response = post("/admin/trials/new", {
        "name": "CIRV", "key": "Bad Key", "sites": ["coventry"], "ratio_treatment": "1",
        "ratio_control": "1", "method": "permuted_blocks", "block_sizes": "3, 5",
        "status": "open"})
    assert response.status_code == 422
    text = page_text(response)
    assert "Block sizes must be multiples of 2" in text and "short key" in text

    response = post("/admin/trials/new", {
        "name": "CIRV", "key": "cirv", "sites": ["coventry", "wolverhampton"],
        "stratify_by_age_band": "y", "ratio_treatment": "1", "ratio_control": "1",
        "method": "permuted_blocks", "block_sizes": "2, 4", "status": "open"})
    assert response.status_code == 302
    trial = db.session.scalars(select(Trial)).one()
    assert trial.block_sizes == [2, 4] and trial.stratify_by_age_band
    assert {s.key for s in trial.sites} == {"coventry", "wolverhampton"}
    edit = page_text(client.get(f"/admin/trials/{trial.id}"))
    assert "CIRV" in edit and "coventry/18-24" in edit
    assert "trial:created" in set(db.session.scalars(select(AuditEvent.action)))


def upload_list(post, trial, data: bytes):
    """``data`` sent as the trial's allocation list, as the admin page sends it."""
    import io

    return post(f"/admin/trials/{trial.id}/allocation-list",
                {"allocation_list": (io.BytesIO(data), "list.csv")},
                content_type="multipart/form-data")


def test_admin_uploads_an_allocation_list(client, login_as, post, make_trial):
    import hashlib

    trial = make_trial(method="allocation_list", status="closed")
    login_as("admin", ())
    bad = b"stratum,slot,arm\ncoventry,2,treatment\n"
    response = upload_list(post, trial, bad)
    assert response.status_code == 422 and "Line 2: slot must be 1" in page_text(response)
    good = b"stratum,slot,arm\ncoventry,1,treatment\nwolverhampton,1,control\n"
    response = upload_list(post, trial, good)
    assert response.status_code == 302
    db.session.expire_all()
    stored = db.session.get(Trial, trial.id).allocation_list_sha256
    assert stored == hashlib.sha256(good).hexdigest()


def test_a_list_trial_opens_only_with_a_list_for_every_stratum(client, login_as, post,
                                                               make_trial):
    """A trial that allocates from a list is not opened without one, nor
    given strata its list lacks while open (it was saved either way, and
    the first eligible decision in such a stratum failed); the page says
    which strata the list lacks."""
    login_as("admin", ())
    new = {"name": "CIRV", "key": "cirv", "sites": ["coventry", "wolverhampton"],
           "ratio_treatment": "1", "ratio_control": "1", "method": "allocation_list",
           "block_sizes": "", "status": "open"}
    response = post("/admin/trials/new", new)
    assert response.status_code == 422 and count(Trial) == 0
    assert "Upload the allocation list before opening" in page_text(response)

    trial = make_trial(method="allocation_list", allocation_list=(
        b"stratum,slot,arm\ncoventry,1,treatment\nwolverhampton,1,control\n"))
    response = post(f"/admin/trials/{trial.id}",
                    _edit_form(client, trial.id, stratify_by_age_band="y"))
    assert response.status_code == 422
    assert ("The allocation list has no slots for strata coventry/14-17, coventry/18-24"
            in page_text(response))
    db.session.expire_all()
    assert not db.session.get(Trial, trial.id).stratify_by_age_band

    response = post(f"/admin/trials/{trial.id}",
                    _edit_form(client, trial.id, stratify_by_age_band="y", status="closed"))
    assert response.status_code == 302
    page = page_text(client.get(f"/admin/trials/{trial.id}"))
    assert ("The allocation list has no slots for strata coventry/14-17, coventry/18-24, "
            "coventry/25+, wolverhampton/14-17") in page
    assert "can open only once a list with slots for every stratum is uploaded" in page


def test_admin_extends_a_used_allocation_list(client, login_as, post, make_trial, make_referral,
                                             triage_referral, make_user):
    import io

    from casework.triage import services

    held = b"stratum,slot,arm\ncoventry,1,treatment\n"
    trial = make_trial(sites=("coventry",), method="allocation_list", allocation_list=held)
    login_as("admin", ())
    services.decide(triage_referral(make_referral("coventry")), "eligible", None,
                    actor=make_user("lead"), now=datetime.now(UTC), key=None)
    db.session.commit()
    page = page_text(client.get(f"/admin/trials/{trial.id}"))
    assert "a new one must extend it" in page and 'id="list-allocation_list"' in page

    changed = b"stratum,slot,arm\ncoventry,1,control\ncoventry,2,control\n"
    response = post(f"/admin/trials/{trial.id}/allocation-list",
                    {"allocation_list": (io.BytesIO(changed), "two.csv")},
                    content_type="multipart/form-data")
    assert response.status_code == 422
    assert "This file changes at least one row of the current list" in page_text(response)
    longer = held + b"coventry,2,control\n"
    response = post(f"/admin/trials/{trial.id}/allocation-list",
                    {"allocation_list": (io.BytesIO(longer), "two.csv")},
                    content_type="multipart/form-data")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Trial, trial.id).allocation_list_filename == "two.csv"


def test_refused_allocation_lists_tell_no_arm_held_and_are_audited(
        client, login_as, post, make_trial, make_referral, triage_referral, make_user):
    """An admin sending a list of every slot "treatment" was told each
    unused slot that held "control", and a one-row list the arm of slot 2:
    every allocation to come (found by review); and nothing recorded the
    tries. Now neither answer names an arm, and each refusal is audited with
    the file's SHA-256 and row count, never its rows."""
    import hashlib
    import io

    from casework.triage import services

    held = (b"stratum,slot,arm\ncoventry,1,treatment\ncoventry,2,control\n"
            b"coventry,3,control\ncoventry,4,treatment\ncoventry,5,treatment\n"
            b"coventry,6,control\n")
    trial = make_trial(sites=("coventry",), method="allocation_list", allocation_list=held)
    services.decide(triage_referral(make_referral("coventry")), "eligible", None,
                    actor=make_user("lead"), now=datetime.now(UTC), key=None)
    db.session.commit()
    admin = login_as("admin", ())
    guesses = {
        "treatment": b"stratum,slot,arm\n" + b"".join(
            b"coventry,%d,treatment\n" % n for n in range(1, 8)),
        "control": b"stratum,slot,arm\ncoventry,1,treatment\n" + b"".join(
            b"coventry,%d,control\n" % n for n in range(2, 8)),
        "one row": b"stratum,slot,arm\ncoventry,1,treatment\n",
    }
    shown = {}
    for name, data in guesses.items():
        response = post(f"/admin/trials/{trial.id}/allocation-list",
                        {"allocation_list": (io.BytesIO(data), "guess.csv")},
                        content_type="multipart/form-data")
        assert response.status_code == 422
        after = page_text(response).split("must keep every row of it unchanged", 1)[1]
        shown[name] = after.split("</", 1)[0]
        assert "treatment" not in shown[name] and "control" not in shown[name], shown[name]
    # whichever slots the guess got wrong, the same answer
    assert shown["treatment"] == shown["control"]
    assert "this file stops before slot 2, which the current list has" in shown["one row"]
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "trial:allocation_list_refused").order_by(AuditEvent.id)).all()
    assert [(e.actor_id, e.subject_id, e.detail) for e in events] == [
        (admin.id, str(trial.id), {"sha256": hashlib.sha256(data).hexdigest(),
                                   "rows": data.count(b"\n") - 1, "reason": "does_not_extend"})
        for data in guesses.values()]
    assert count(AllocationListEntry) == 6


def test_a_list_sent_to_a_trial_that_takes_none_is_audited(client, login_as, post, make_trial,
                                                           make_referral, triage_referral,
                                                           make_user):
    import hashlib

    from casework.triage import services

    trial = make_trial()
    services.decide(triage_referral(make_referral("coventry")), "eligible", None,
                    actor=make_user("lead"), now=datetime.now(UTC), key=b"test-trial-key")
    db.session.commit()
    login_as("admin", ())
    data = b"stratum,slot,arm\ncoventry,1,treatment\n"
    response = upload_list(post, trial, data)
    assert response.status_code == 422 and "takes no allocation list" in page_text(response)
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "trial:allocation_list_refused")).one()
    assert event.detail == {"sha256": hashlib.sha256(data).hexdigest(), "rows": None,
                            "reason": "takes_no_list"}
    assert count(AllocationListEntry) == 0


def test_admin_marks_an_allocation_in_error(client, login_as, post, make_trial, make_referral,
                                            triage_referral, make_user):
    from casework.triage import services

    trial = make_trial()
    services.decide(triage_referral(make_referral("coventry")), "eligible", None,
                    actor=make_user("lead", ("coventry",)), now=datetime.now(UTC),
                    key=b"test-trial-key")
    db.session.commit()
    login_as("admin", ())
    response = post(f"/admin/trials/{trial.id}/in-error",
                    {"stratum": "coventry", "slot": "4", "reason": "Wrong person"})
    assert response.status_code == 422 and "No allocation has slot 4" in page_text(response)
    response = post(f"/admin/trials/{trial.id}/in-error",
                    {"stratum": "coventry", "slot": "1", "reason": "Wrong person"})
    assert response.status_code == 302
    assert db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action == "allocation:marked_in_error")).one()
    assert count(AllocationInError) == 1 and count(Allocation) == 1
    assert "Wrong person" in page_text(client.get(f"/admin/trials/{trial.id}"))


def test_admin_marks_an_allocation_in_error_by_a_referral_of_the_persons(
        client, login_as, post, make_trial, make_referral, triage_referral, make_user):
    """The form asked for the stratum and slot, which admins (who do no
    casework) could find nowhere: a lead can tell them a referral, from
    the case record. The referral randomised, or a later one linked to its
    allocation, names it; a wrong or unallocated reference is explained."""
    from casework.triage import services

    trial = make_trial()
    lead = make_user("lead", ("coventry",))
    first = make_referral("coventry")
    services.decide(triage_referral(first), "eligible", None, actor=lead,
                    now=datetime.now(UTC), key=b"test-trial-key")
    again = make_referral("coventry", person=first.person)
    services.decide(triage_referral(again), "ineligible", None, actor=lead,  # C4: keeps it
                    now=datetime.now(UTC), key=b"test-trial-key")
    waiting = make_referral("coventry")
    db.session.commit()
    login_as("admin", ())
    path = f"/admin/trials/{trial.id}/in-error"
    for typed, problem in ((f"R{waiting.id:07d}", f"Referral R{waiting.id:07d} has no "
                                                  "allocation in CIRV trial"),
                           ("R12x", "Enter a referral reference like R0001234")):
        response = post(path, {"referral": typed, "reason": "Wrong person"})
        assert response.status_code == 422 and problem in page_text(response)
    response = post(path, {"referral": f"R{again.id:07d}", "stratum": "coventry",
                           "reason": "Wrong person"})
    assert response.status_code == 422
    assert "Give the referral reference, or the stratum and slot, not both" in \
        page_text(response)
    assert count(AllocationInError) == 0

    response = post(path, {"referral": f"r{again.id:07d} ", "reason": "Wrong person"})
    assert response.status_code == 302
    marked = db.session.scalars(select(AllocationInError)).one()
    assert marked.allocation.referral_id == first.id  # the allocation the later one keeps
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "allocation:marked_in_error")).one()
    assert event.detail["referral_id"] == first.id and event.detail["slot"] == 1
    page = page_text(client.get(f"/admin/trials/{trial.id}"))
    assert f"The allocation of referral R{first.id:07d} (slot 1 of coventry)" in page
    assert f"R{first.id:07d}" in page
    response = post(path, {"referral": f"R{first.id:07d}", "reason": "Again"})
    assert response.status_code == 422
    assert "already marked as randomised in error" in page_text(response)


def _edit_form(client, trial_id: int, **changes) -> dict:
    """The trial's edit form as its page draws it, with ``changes`` typed in."""
    page = page_text(client.get(f"/admin/trials/{trial_id}"))
    form = {"version": re.search(r'name="version" type="hidden" value="([^"]*)"', page)[1],
            "name": re.search(r'id="name" name="name" type="text" value="([^"]*)"', page)[1],
            "sites": re.findall(r'name="sites" type="checkbox" value="([^"]*)" checked', page),
            "ratio_treatment": "1", "ratio_control": "1",
            "method": re.search(r'name="method" type="radio" value="([^"]*)" checked', page)[1],
            "block_sizes": re.search(r'name="block_sizes" type="text" value="([^"]*)"',
                                     page)[1],
            "status": re.search(r'name="status" type="radio" value="([^"]*)" checked', page)[1]}
    if 'name="stratify_by_age_band" type="checkbox" value="y" checked' in page:
        form["stratify_by_age_band"] = "y"
    return {**form, **changes}


def test_block_sizes_typed_in_another_order_are_the_same_design(
        client, login_as, post, make_trial, make_referral, triage_referral, make_user):
    """Once people are randomised the block sizes are fixed; "6, 4, 2" names
    the sizes stored as [2, 4, 6], so the trial saves (it was refused as a
    change of design)."""
    from casework.triage import services

    trial = make_trial()
    services.decide(triage_referral(make_referral("coventry")), "eligible", None,
                    actor=make_user("lead", ("coventry",)), now=datetime.now(UTC),
                    key=b"test-trial-key")
    db.session.commit()
    login_as("admin", ())
    response = post(f"/admin/trials/{trial.id}",
                    _edit_form(client, trial.id, name="CIRV renamed", block_sizes="6, 4, 2"))
    assert response.status_code == 302, page_text(response)
    db.session.expire_all()
    saved = db.session.get(Trial, trial.id)
    assert saved.name == "CIRV renamed" and saved.block_sizes == [2, 4, 6]
    response = post(f"/admin/trials/{trial.id}", _edit_form(client, trial.id, block_sizes="2, 4"))
    assert response.status_code == 422 and "cannot change once people" in page_text(response)


@pytest.mark.parametrize("role", ["caseworker", "lead", "evaluator"])
def test_only_admins_configure_trials(client, login_as, make_trial, role):
    trial = make_trial()
    login_as(role, ("coventry",) if role != "evaluator" else ())
    for path in ("/admin/trials", "/admin/trials/new", f"/admin/trials/{trial.id}"):
        assert client.get(path).status_code == 403


def test_the_person_page_reads_triages_and_allocations_only_for_a_person_with_them(
        app, client, login_as, make_trial, make_referral, triage_referral):
    """The person's own query says which of their triages, allocations and
    case reviews exist; the page reads only those (most people have none),
    and shows each once it exists."""
    from sqlalchemy import event

    make_trial()
    referral = make_referral("coventry")
    login_as("lead", ("coventry",))
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def tables_read() -> set[str]:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            page = page_text(client.get(f"/people/{referral.person_id}"))
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        # a statement reading the table's records (the person's own query
        # only asks whether any exist)
        read = {table for table in ("triages", "allocations", "case_reviews")
                if any(s.lstrip().startswith(f"SELECT {table}.") for s in statements)}
        return read, page

    read, page = tables_read()
    assert read == set() and "Not started" in page and "Not randomised" in page
    triage = triage_referral(referral)
    read, page = tables_read()
    assert read == {"triages"} and "Waiting for a lead" in page
    decide(client, triage.id, {"decision": "eligible"})
    read, page = tables_read()
    assert read == {"triages", "allocations"}
    assert "Decided: eligible" in page and "Trial allocation" in page
