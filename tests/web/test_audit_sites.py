"""Who listed or searched a site's people is on that site's audit log: a
list, search or dashboard shown to someone of one site is that site's
event; to someone of several, each of them finds it (AuditEventSite).
Before, such events had no site and only admins saw them (found by review)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from casework.accounts.services import sites_by_keys
from casework.audit.models import AuditEvent, AuditEventSite
from casework.extensions import db
from tests.conftest import load_migration, run_migration_step


def _rows(page: str) -> int:
    return page.count("<code>referral:listed</code>")


def _log_of(client, login_as, post, sites) -> str:
    post("/sign-out", {})
    login_as("lead", sites)
    return client.get("/audit/?action=referral:listed").get_data(as_text=True)


def test_a_list_shown_at_one_site_is_that_sites_event(client, login_as, post, make_referral):
    make_referral("coventry", last_name="Listed")
    login_as("caseworker", ("coventry",), email="one-site@example.org")
    assert "Listed" in client.get("/referrals").get_data(as_text=True)
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "referral:listed")).one()
    assert event.site_id == sites_by_keys(["coventry"])[0].id and "sites" not in event.detail
    assert _rows(_log_of(client, login_as, post, ("coventry",))) == 1
    assert _rows(_log_of(client, login_as, post, ("dudley",))) == 0


def test_a_list_shown_at_several_sites_is_each_ones_event(client, login_as, post, now):
    login_as("lead", ("coventry", "dudley"), email="two-sites@example.org")
    client.get("/referrals")
    client.get("/notes/search?q=school")
    coventry, dudley = (site.id for site in sites_by_keys(["coventry", "dudley"]))
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "referral:listed")).one()
    assert event.site_id is None and event.detail["sites"] == sorted([coventry, dudley])
    assert set(db.session.execute(select(AuditEventSite.event_id, AuditEventSite.site_id))) == {
        (e.id, site) for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action.in_(("referral:listed", "note:searched"))))
        for site in (coventry, dudley)}
    for sites in (("coventry",), ("dudley",)):
        log = _log_of(client, login_as, post, sites)
        assert _rows(log) == 1
        searched = client.get("/audit/?action=note:searched").get_data(as_text=True)
        assert searched.count("<code>note:searched</code>") == 1
    assert _rows(_log_of(client, login_as, post, ("birmingham",))) == 0
    # the chain still holds with the sites in the events' detail
    from casework.audit import services as audit

    assert audit.verify_chain(processes=1).ok


def test_migration_0019_indexes_the_events_already_stored(app, now):
    """Events stored before it with a ``sites`` list and no site (the
    dashboard's, the caseloads page's) are indexed by the upgrade."""
    coventry, dudley = (site.id for site in sites_by_keys(["coventry", "dudley"]))
    migration = load_migration("0019")
    run_migration_step(migration.downgrade)
    db.session.execute(AuditEvent.__table__.insert(), [
        {"occurred_at": now, "actor_role": "lead", "action": "dashboard:viewed",
         "site_id": None, "detail": detail, "request_id": "r", "prev_hash": f"{n:064x}",
         "hash": f"{n + 100:064x}"}
        for n, detail in enumerate(({"sites": [coventry, dudley]}, {"sites": [dudley]},
                                    {"sites": "not a list"}, {}, {"sites": [999_999]}))])
    run_migration_step(migration.upgrade)
    indexed = db.session.execute(select(AuditEvent.prev_hash, AuditEventSite.site_id)
                                 .join(AuditEventSite)).all()
    assert sorted(indexed) == sorted([(f"{0:064x}", coventry), (f"{0:064x}", dudley),
                                      (f"{1:064x}", dudley)])


@pytest.mark.postgres
def test_the_index_is_append_only_on_postgresql(client, login_as):
    login_as("lead", ("coventry", "dudley"))
    client.get("/referrals")
    for statement in ("UPDATE audit_event_sites SET site_id = site_id",
                      "DELETE FROM audit_event_sites", "TRUNCATE audit_event_sites"):
        with pytest.raises(Exception, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))


def test_a_list_narrowed_to_one_site_is_that_sites_event(client, login_as, make_referral):
    """A lead of two sites listing one site's referrals, cases, deviations,
    diversions, triages or approvals: the event is that site's, not both
    (found by the review of the merged change)."""
    coventry = sites_by_keys(["coventry"])[0].id
    login_as("lead", ("coventry", "dudley"))
    for path in (f"/referrals?site={coventry}", f"/caseload/cases?site={coventry}",
                 f"/pathways/deviations?site={coventry}", f"/diversion?site={coventry}",
                 f"/triage?site={coventry}", f"/pathways/approvals?site={coventry}"):
        assert client.get(path).status_code == 200
    events = db.session.execute(select(AuditEvent.action, AuditEvent.site_id).where(
        AuditEvent.action.like("%listed"))).all()
    assert len(events) == 6 and {site for _, site in events} == {coventry}, events
    assert db.session.scalar(select(AuditEventSite.event_id).limit(1)) is None


def test_a_persons_record_viewed_or_changed_is_each_of_their_sites_event(
        client, login_as, post, make_referral):
    """A person living at Coventry and referred again at Wolverhampton:
    their case is both sites'. Their record opened and changed by a
    Wolverhampton caseworker was Coventry's event only, so the Wolverhampton
    lead, who may open the person, could not see who read or changed it
    (found by review)."""
    import re

    from tests.web.test_intake import form_data

    person = make_referral("coventry").person
    make_referral("wolverhampton", person=person)
    login_as("caseworker", ("wolverhampton",), email="wolves-worker@example.org")
    assert client.get(f"/people/{person.id}").status_code == 200
    version = re.search(r'name="version" type="hidden" value="([^"]*)"', client.get(
        f"/people/{person.id}/edit").get_data(as_text=True)).group(1)
    changed = post(f"/people/{person.id}/edit",
                   {**form_data(last_name="Changedname"), "version": version})
    assert changed.status_code == 302, changed.get_data(as_text=True)
    coventry, wolverhampton = (site.id for site in sites_by_keys(["coventry", "wolverhampton"]))
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(("person:viewed", "person:updated")),
        AuditEvent.subject_id == str(person.id))).all()
    assert sorted(e.action for e in events) == ["person:updated", "person:viewed",
                                                "person:viewed"]
    assert all(e.site_id is None and e.detail["sites"] == sorted([coventry, wolverhampton])
               for e in events)
    for sites, seen in ((("wolverhampton",), 1), (("coventry",), 1), (("birmingham",), 0)):
        post("/sign-out", {})
        login_as("lead", sites)
        log = client.get(f"/audit/?subject_type=person&subject_id={person.id}"
                         ).get_data(as_text=True)
        assert log.count("<code>person:viewed</code>") == 2 * seen, sites
        assert log.count("<code>person:updated</code>") == seen, sites
