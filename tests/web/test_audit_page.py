"""The audit log page: admins see everything, leads their sites; filters; paging."""

from __future__ import annotations

from casework.accounts import services
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.extensions import db

COVENTRY, DUDLEY = 1000, 2000  # the users the events of each site are about


def subject(number: int) -> str:
    """An event's subject as the log's table shows it."""
    return f"user {number}</td>"


def seed_site_events(now, count_per_site=3):
    coventry, dudley = services.sites_by_keys(["coventry", "dudley"])
    for i in range(count_per_site):
        audit.record(Action.USER_UPDATED, actor=None, now=now, subject_type="user",
                     subject_id=COVENTRY + i, site_id=coventry.id)
        audit.record(Action.USER_UPDATED, actor=None, now=now, subject_type="user",
                     subject_id=DUDLEY + i, site_id=dudley.id)
    db.session.commit()


def test_admin_sees_every_event(client, login_as, now):
    seed_site_events(now)
    login_as("admin", ())
    page = client.get("/audit/").get_data(as_text=True)
    assert subject(COVENTRY) in page and subject(DUDLEY) in page
    assert "<code>auth:login</code>" in page


def test_lead_sees_only_their_sites(client, login_as, now):
    seed_site_events(now)
    login_as("lead", ("coventry",))
    page = client.get("/audit/").get_data(as_text=True)
    assert subject(COVENTRY) in page
    assert subject(DUDLEY) not in page
    assert "<code>auth:login</code>" not in page  # not tied to a site


def test_filters(client, login_as, now):
    seed_site_events(now)
    login_as("admin", ())
    page = client.get(f"/audit/?subject_type=user&subject_id={DUDLEY + 1}&action=user:updated"
                      ).get_data(as_text=True)
    assert subject(DUDLEY + 1) in page
    assert subject(DUDLEY) not in page and subject(COVENTRY + 1) not in page
    empty = client.get("/audit/?date_from=1&date_from=1&date_from=2000"
                       "&date_to=2&date_to=1&date_to=2000").get_data(as_text=True)
    assert "No events match" in empty


def _last_viewed():
    from sqlalchemy import select

    from casework.audit.models import AuditEvent

    return db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "audit:viewed").order_by(AuditEvent.id.desc())).first()


def test_the_subject_filters_keep_no_free_text_in_the_log(app, client, login_as, make_user,
                                                          now):
    """Whatever was typed as the subject's type and id went into the log's
    own audit:viewed event, for good, and admins read it in full: a child's
    name, a disclosure (found by review). The type is chosen; the id is a
    number, or an offence's key."""
    seed_site_events(now)
    login_as("lead", ("coventry",))
    typed = "Jayden Smith DOB 3-4-2010", "self-harm disclosed CV1 5FB"
    response = client.get("/audit/", query_string={"subject_type": typed[0],
                                                   "subject_id": typed[1]})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Correct the filters to see events" in page
    assert "Subject type must be one of the options" in page
    response = client.get("/audit/", query_string={"subject_id": typed[1]})
    page = response.get_data(as_text=True)
    assert "Subject id must be a number of 18 digits or fewer, such as 42" in page
    assert f'value="{typed[1]}"' in page  # kept to be corrected, not recorded
    assert _last_viewed().detail == {}
    for refused in ("1" * 19, "12 34", "١٢", "-1", "common_assault"):
        client.get("/audit/", query_string={"subject_id": refused})
        assert _last_viewed().detail == {}, refused
    for refused, message in (("jayden_smith_2010", "No offence has this key"),
                             ("Jayden Smith", "subject id is its key: lower-case letters")):
        page = client.get("/audit/", query_string={"subject_type": "offence",
                                                   "subject_id": refused}).get_data(as_text=True)
        assert message in page and _last_viewed().detail == {}
    page = client.get(f"/audit/?subject_type=user&subject_id=00{COVENTRY + 1}"
                      ).get_data(as_text=True)
    assert subject(COVENTRY + 1) in page and subject(COVENTRY) not in page
    assert _last_viewed().detail == {"subject_type": "user", "subject_id": str(COVENTRY + 1)}
    client.get("/audit/?subject_type=offence&subject_id=common_assault")
    assert _last_viewed().detail == {"subject_type": "offence", "subject_id": "common_assault"}


def test_every_subject_the_code_records_can_be_chosen():
    """The subject types are a list: one the code records but the list
    lacks could not be filtered on."""
    import re
    from pathlib import Path

    import casework
    from casework.audit.forms import SUBJECT_TYPES

    recorded = set()
    for path in Path(casework.__file__).parent.rglob("*.py"):
        recorded |= set(re.findall(r'subject_type="(\w+)"', path.read_text()))
    assert recorded and recorded <= set(SUBJECT_TYPES), recorded - set(SUBJECT_TYPES)


def test_bad_date_filter_is_explained(client, login_as):
    login_as("admin", ())
    response = client.get("/audit/?date_from=31&date_from=2&date_from=2026")
    assert "From must be a real date" in response.get_data(as_text=True)


def test_pages_older_and_newer(client, login_as, now):
    seed_site_events(now, count_per_site=40)
    login_as("admin", ())
    first = client.get("/audit/").get_data(as_text=True)
    assert "Older" in first and "Newer" not in first
    older_href = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = client.get(older_href.replace("&amp;", "&")).get_data(as_text=True)
    assert "Newer" in second
    assert subject(COVENTRY) in second and subject(COVENTRY + 39) not in second


def test_viewing_the_log_is_audited(client, login_as):
    login_as("admin", ())
    client.get("/audit/?action=auth:login")
    from sqlalchemy import select

    from casework.audit.models import AuditEvent

    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "audit:viewed")
    ).one()
    assert event.detail == {"action": "auth:login"}


def test_events_by_one_user_found_by_email(client, login_as, make_user, now):
    seed_site_events(now)
    other = make_user("caseworker", ("coventry",), email="Someone@Example.org")
    login_as("admin", ())
    html = client.get("/audit/").get_data(as_text=True)
    assert "someone@example.org" in html  # their user:created event names its actor
    assert "<option" not in html.split('name="action"')[0]  # no list of every user
    theirs = client.get("/audit/?actor=SOMEONE@example.org").get_data(as_text=True)
    assert "<code>user:created</code>" not in theirs  # they created no one
    assert subject(COVENTRY) not in theirs and "No events match" in theirs
    from sqlalchemy import select

    from casework.audit.models import AuditEvent

    audit.record(Action.USER_UPDATED, actor=other, now=now, subject_type="user",
                 subject_id="by-someone")
    db.session.commit()
    theirs = client.get("/audit/?actor=someone@example.org").get_data(as_text=True)
    assert "by-someone" in theirs and subject(COVENTRY) not in theirs
    assert "No user has" not in client.get("/audit/?actor=+++").get_data(as_text=True)
    unknown = client.get("/audit/?actor=nobody@example.org").get_data(as_text=True)
    assert "No user has this email address" in unknown and 'value="nobody@example.org"' in unknown
    viewed = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "audit:viewed").order_by(AuditEvent.id.desc())).first()
    assert not viewed.detail  # the unknown address filtered nothing, and is not recorded


def test_the_logs_page_links_carry_no_options_of_url_for(client, login_as, now):
    """Every argument of the address went into url_for: ?_method=POST made
    the page links unbuildable (a 500), ?_external and ?_anchor changed
    them (found by review)."""
    seed_site_events(now, count_per_site=40)
    login_as("admin", ())
    response = client.get("/audit/?action=&_method=POST&_external=1&_anchor=x&endpoint=y")
    assert response.status_code == 200
    older = response.get_data(as_text=True).split('rel="next"')[0].rsplit('href="', 1)[1]
    assert older.startswith("/audit/?") and "#" not in older.split('"')[0]
    assert "_method" not in older.split('"')[0] and "endpoint" not in older.split('"')[0]


def _older_link(html: str) -> str:
    return html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")


def test_paging_keeps_a_date_filter(client, login_as):
    """A date filter is three boxes of one name; the page links carried only
    the first (the day), so the next page said "must include a month and a
    year" and listed every event (found by review)."""
    from datetime import UTC, datetime

    coventry = services.sites_by_keys(["coventry"])[0]
    for i in range(60):
        audit.record(Action.USER_UPDATED, actor=None, now=datetime(2026, 3, 1, 12, tzinfo=UTC),
                     subject_type="user", subject_id=f"march-{i}", site_id=coventry.id)
        audit.record(Action.USER_UPDATED, actor=None, now=datetime(2026, 2, 1, 12, tzinfo=UTC),
                     subject_type="user", subject_id=f"february-{i}", site_id=coventry.id)
    db.session.commit()
    login_as("admin", ())
    first = client.get("/audit/?date_from=1&date_from=3&date_from=2026").get_data(as_text=True)
    older = _older_link(first)
    assert "date_from=1&date_from=3&date_from=2026" in older
    second = client.get(older).get_data(as_text=True)
    assert "must include" not in second
    assert "march-0" in second and "february-" not in second


def test_filters_that_cannot_be_read_show_no_events(client, login_as, now):
    """An unknown action or email, or an end before the start, listed the
    whole log beside the message, ignoring the filters that were valid, as
    if they had matched (found by review)."""
    seed_site_events(now)
    login_as("admin", ())
    for query in (f"?action=bogus:verb&subject_id={COVENTRY + 1}", "?actor=nobody@example.org",
                  f"?subject_id={COVENTRY + 1}&date_from=2&date_from=1&date_from=2026"
                  "&date_to=1&date_to=1&date_to=2026"):
        response = client.get("/audit/" + query)
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "<code>user:updated</code>" not in page and "<code>auth:login</code>" not in page
        assert "Correct the filters to see events" in page
        assert "There is a problem" in page
    backwards = client.get("/audit/?date_from=2&date_from=1&date_from=2026"
                           "&date_to=1&date_to=1&date_to=2026").get_data(as_text=True)
    assert "To must be the same as or after From" in backwards
    assert "A day in UTC" in backwards


def test_admins_read_which_details_of_a_child_changed_not_their_values(
        client, login_as, post, make_referral):
    """Admins do no casework (DESIGN.md), yet the log showed them a child's
    surname, date of birth and postcode before and after an edit (found by
    review); leads of the site still read the values."""
    from datetime import UTC, date, datetime

    from casework.intake import services as intake

    referral = make_referral("coventry", last_name="Oldname", dob=date(2008, 2, 2))
    person = referral.person
    lead = login_as("lead", ("coventry",))
    intake.update_person(person, intake.PersonDetails(
        person.first_name, "Newname", date(2008, 3, 3), "male", "white_british", "coventry",
        postcode="CV1 5FB"), actor=lead, now=datetime(2026, 11, 21, 9, tzinfo=UTC))
    db.session.commit()
    shown = client.get("/audit/?action=person:updated").get_data(as_text=True)
    assert "Oldname" in shown and "2008-03-03" in shown and "CV1 5FB" in shown
    post("/sign-out", {})
    login_as("admin", ())
    shown = client.get("/audit/?action=person:updated").get_data(as_text=True)
    assert "<code>person:updated</code>" in shown
    for value in ("Oldname", "Newname", "2008-02-02", "2008-03-03", "CV1 5FB"):
        assert value not in shown
    assert "last_name: changed" in shown and "date_of_birth: changed" in shown


def test_admins_read_no_triage_facts_as_flags_or_empty_lists(
        client, login_as, make_referral, triage_referral):
    """Flags and empty lists passed as "ids and counts": admins read a
    triage's ``panel_confirmed: True``, and ``group_violence_evidence: []``
    where a child had none (a list of evidence showed "withheld"), so the
    empty one said C3 failed (found by review). Ids still show."""
    referral = make_referral("coventry")
    triage_referral(referral, group_violence_evidence=[], recommendation="ineligible")
    login_as("admin", ())
    shown = client.get("/audit/?action=triage:recorded").get_data(as_text=True)
    assert "<code>triage:recorded</code>" in shown
    assert "group_violence_evidence: withheld" in shown
    assert "panel_confirmed: withheld" in shown
    assert "True" not in shown and "[]" not in shown
    assert f"referral_id: {referral.id}" in shown


def test_leads_read_no_allocations_place_in_its_sequence(client, login_as, post, randomised):
    """The allocation report shows those who decide triage nothing of what
    comes next, yet the log listed each allocation's stratum, slot and arm,
    newest first, to the same leads (found by review). They read the
    allocation's other details; the stored event is unchanged."""
    import re

    from sqlalchemy import select

    from casework.audit.models import AuditEvent

    person = randomised("treatment")
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "allocation:created")).all()
    assert all({"stratum", "slot", "arm"} <= set(e.detail) for e in events)  # stored as it was
    login_as("lead", ("coventry",))
    shown = client.get("/audit/?action=allocation:created").get_data(as_text=True)
    assert shown.count("<code>allocation:created</code>") == len(events)
    assert f"person_id: {person.id}" in shown
    for name in ("stratum", "slot", "arm"):
        assert shown.count(f"{name}: withheld") == len(events)
    assert not re.search(r"(arm: (treatment|control)|slot: \d|stratum: coventry)", shown)
