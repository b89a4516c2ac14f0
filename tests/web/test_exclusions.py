"""The C5 exclusions as reference data admins keep (DESIGN.md: "C5 no
exclusion applies (configured list)"): the list was fixed in the code, so a
new exclusion or a clearer title needed a release. Admins now add one,
retitle one, and stop or restart offering one; triage offers those offered,
C5 names them by their titles, and a triage that recorded one no longer
offered keeps it, under its title."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.triage.exclusions import key_for
from casework.triage.models import Exclusion, Triage
from tests.conftest import PASSWORD, csrf_token, sign_in
from tests.web.conftest import fingerprint

STALE = "Someone else saved changes here since you opened this page."
MAPPA = "Managed under MAPPA at level 2 or 3"
INJUNCTION = "Subject to a gang injunction"
FACTS = {"group_violence_evidence": ["recent_violence"], "panel_confirmed": "yes",
         "recommendation": "eligible"}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def signed_in(app, make_user, role, sites=("coventry",), email=None):
    user = make_user(role, sites, email=email)
    client = app.test_client()
    assert sign_in(client, user.email, PASSWORD).status_code == 302
    return client


def send(client, path, data):
    """A form sent from ``path`` as it is drawn now: its hidden fields
    (CSRF token, version, submission key), then ``data``."""
    page = client.get(path).get_data(as_text=True)
    hidden = dict(re.findall(r'name="(csrf_token|version|submission)" type="hidden" '
                             r'value="([^"]*)"', page))
    return client.post(path, data={**hidden, **data})


def exclusion(key: str) -> Exclusion:
    db.session.expire_all()
    return db.session.scalars(select(Exclusion).where(Exclusion.key == key)).one()


def events(action: str) -> list[dict]:
    return [e.detail for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def offered_on_the_form(client, referral_id: int) -> dict[str, str]:
    """The exclusions a triage form offers, key → title."""
    page = client.get(f"/referrals/{referral_id}/triage").get_data(as_text=True)
    return {key: html.unescape(label.strip()) for key, label in re.findall(
        r'name="exclusions" type="checkbox" value="([^"]+)"[^>]*>\s*<label[^>]*>([^<]+)<',
        page)}


def c5_reason(client, triage_id: int) -> str:
    page = text(client.get(f"/triage/{triage_id}"))
    return re.search(r"(Excluded: [^<]*|No exclusion applies\.)", page).group(1)


def test_the_shipped_exclusions_are_those_the_rules_held(app):
    from casework.eligibility.cirv import DEFAULT_EXCLUSIONS

    assert {e.key: (e.title, e.offered) for e in db.session.scalars(select(Exclusion))} == {
        key: (title, True) for key, title in DEFAULT_EXCLUSIONS.items()}


def test_an_admin_adds_one_and_triage_offers_it_and_c5_names_it(
        app, make_user, make_trial, make_referral):
    make_trial()
    admin = signed_in(app, make_user, "admin", ())
    worker = signed_in(app, make_user, "caseworker")
    lead = signed_in(app, make_user, "lead")
    referral = make_referral("coventry")
    assert INJUNCTION not in offered_on_the_form(worker, referral.id).values()

    added = send(admin, "/admin/exclusions/new", {"title": "  Subject to a  gang injunction "})
    assert added.status_code == 302
    new = exclusion("subject_to_a_gang_injunction")
    assert (new.title, new.offered) == (INJUNCTION, True)
    assert events("exclusion:created") == [{
        "key": "subject_to_a_gang_injunction",
        "offered": {"before": None, "after": True},
        "title": {"before": None, "after": INJUNCTION}}]
    assert INJUNCTION in text(admin.get("/admin/exclusions"))

    offered = offered_on_the_form(worker, referral.id)
    assert offered["subject_to_a_gang_injunction"] == INJUNCTION
    assert list(offered)[:4] == ["other_focused_deterrence", "long_custodial_sentence",
                                 "mappa_managed", "safeguarding_plan_conflict"]
    saved = send(worker, f"/referrals/{referral.id}/triage",
                 {**FACTS, "exclusions": ["subject_to_a_gang_injunction", "mappa_managed"]})
    assert saved.status_code == 302, text(saved)
    triage = db.session.scalars(select(Triage).where(Triage.referral_id == referral.id)).one()
    # in the order offered, as the shipped ones always were
    assert triage.exclusions == ["mappa_managed", "subject_to_a_gang_injunction"]
    assert c5_reason(lead, triage.id) == f"Excluded: {MAPPA} and subject to a gang injunction."
    assert "Ineligible" in text(lead.get(f"/triage/{triage.id}"))
    # and the rules page lists it
    assert INJUNCTION in text(worker.get("/rules"))


def test_a_double_click_adds_one(app, make_user):
    admin = signed_in(app, make_user, "admin", ())
    page = admin.get("/admin/exclusions/new").get_data(as_text=True)
    hidden = dict(re.findall(r'name="(csrf_token|submission)" type="hidden" value="([^"]*)"',
                             page))
    first = admin.post("/admin/exclusions/new", data={**hidden, "title": INJUNCTION})
    second = admin.post("/admin/exclusions/new", data={**hidden, "title": INJUNCTION})
    assert (first.status_code, second.status_code) == (302, 302)
    assert "recorded once" in text(admin.get(second.headers["Location"]))
    assert db.session.scalar(select(func.count()).select_from(Exclusion)) == 5


def test_keys_are_made_from_titles_and_never_clash():
    assert key_for("MAPPA level 1", ()) == "mappa_level_1"
    assert key_for("Café — tier 2!", ()) == "cafe_tier_2"
    assert key_for("MAPPA level 1", {"mappa_level_1", "mappa_level_1_2"}) == "mappa_level_1_3"
    assert key_for("New", ()) == "new_2"  # /admin/exclusions/new is the form that adds one
    assert key_for("1st tier", ()) == "exclusion_1st_tier"
    assert key_for("¿¡!", ()) == "exclusion"
    long = key_for("x" * 300, {"x" * 60})
    assert long == "x" * 58 + "_2"


def test_an_admin_stops_offering_one_and_old_triages_keep_it(
        app, make_user, make_trial, make_referral, triage_referral):
    make_trial()
    earlier = triage_referral(make_referral("coventry"), exclusions=["mappa_managed"])
    admin = signed_in(app, make_user, "admin", ())
    worker = signed_in(app, make_user, "caseworker")
    lead = signed_in(app, make_user, "lead")

    stopped = send(admin, "/admin/exclusions/mappa_managed", {"title": MAPPA})  # no "offered"
    assert stopped.status_code == 302
    assert exclusion("mappa_managed").offered is False
    assert events("exclusion:updated") == [
        {"key": "mappa_managed", "offered": {"before": True, "after": False}}]
    assert "Not offered" in text(admin.get("/admin/exclusions"))
    assert MAPPA not in text(worker.get("/rules"))

    # a new triage is not offered it, and cannot record it
    referral = make_referral("coventry")
    offered = offered_on_the_form(worker, referral.id)
    assert "mappa_managed" not in offered and "other_focused_deterrence" in offered
    before = fingerprint()
    refused = send(worker, f"/referrals/{referral.id}/triage",
                   {**FACTS, "exclusions": ["mappa_managed"]})
    assert refused.status_code == 422
    assert fingerprint() == before

    # the triage that recorded it shows it by its title, and it still counts
    shown = text(lead.get(f"/triage/{earlier.id}"))
    assert MAPPA in shown
    assert c5_reason(lead, earlier.id) == f"Excluded: {MAPPA}."
    # its form still shows it, ticked, to keep or take away
    assert offered_on_the_form(worker, earlier.referral_id)["mappa_managed"] == MAPPA
    kept = send(worker, f"/referrals/{earlier.referral_id}/triage",
                {**FACTS, "exclusions": ["mappa_managed", "other_focused_deterrence"]})
    assert kept.status_code == 302, text(kept)
    db.session.expire_all()
    assert db.session.get(Triage, earlier.id).exclusions == ["other_focused_deterrence",
                                                             "mappa_managed"]

    # offered again
    assert send(admin, "/admin/exclusions/mappa_managed",
                {"title": MAPPA, "offered": "y"}).status_code == 302
    assert exclusion("mappa_managed").offered is True
    assert "mappa_managed" in offered_on_the_form(worker, referral.id)


def test_a_retitled_exclusion_is_named_by_its_new_title_where_undecided(
        app, make_user, make_trial, make_referral, triage_referral):
    from casework.triage import services

    make_trial()
    referral = make_referral("coventry")
    undecided = triage_referral(make_referral("coventry"),
                                exclusions=["other_focused_deterrence"])
    decided = triage_referral(referral, exclusions=["other_focused_deterrence"])
    services.decide(decided, "ineligible", None, actor=make_user("lead", ("coventry",)),
                    now=datetime(2026, 11, 21, tzinfo=UTC), key=b"test-trial-key")
    db.session.commit()
    admin = signed_in(app, make_user, "admin", ())
    lead = signed_in(app, make_user, "lead")

    retitled = send(admin, "/admin/exclusions/other_focused_deterrence",
                    {"title": "In another focused-deterrence scheme", "offered": "y"})
    assert retitled.status_code == 302
    assert exclusion("other_focused_deterrence").key == "other_focused_deterrence"
    assert events("exclusion:updated") == [{
        "key": "other_focused_deterrence",
        "title": {"before": "Already in another focused-deterrence programme",
                  "after": "In another focused-deterrence scheme"}}]
    assert c5_reason(lead, undecided.id) == "Excluded: In another focused-deterrence scheme."
    # a decision keeps the sentence it was made on
    assert c5_reason(lead, decided.id) == \
        "Excluded: Already in another focused-deterrence programme."


@pytest.mark.parametrize(("path", "data", "message"), [
    ("/admin/exclusions/new", {"title": "   "}, "Enter the exclusion's title"),
    ("/admin/exclusions/new", {"title": "x" * 201}, "200 characters or fewer"),
    ("/admin/exclusions/new", {"title": "managed under mappa at level 2 OR 3"},
     "An exclusion with this title already exists"),
    ("/admin/exclusions/mappa_managed", {"title": ""}, "Enter the exclusion's title"),
    ("/admin/exclusions/mappa_managed",
     {"title": "Already in another focused-deterrence programme", "offered": "y"},
     "An exclusion with this title already exists"),
    # as a display name is refused them (found by review: a bell was taken)
    ("/admin/exclusions/new", {"title": "\x07bell"},
     "The title must not contain control characters"),
    ("/admin/exclusions/mappa_managed", {"title": "MAPPA \u202elevel 2", "offered": "y"},
     "The title must not contain invisible formatting characters"),
])
def test_bad_input_is_refused_and_nothing_written(app, make_user, path, data, message):
    admin = signed_in(app, make_user, "admin", ())
    before = fingerprint(exclude=frozenset())
    response = send(admin, path, data)
    assert response.status_code == 422
    assert message in text(response)
    assert fingerprint(exclude=frozenset()) == before  # not even an audit event


def test_titles_differing_only_in_the_case_of_an_accented_letter_clash(app, make_user):
    """SQLite's lower() folds ASCII letters only, so "Élève excluded" and
    "élève excluded" were both taken there (keys eleve_excluded and
    eleve_excluded_2), and refused on PostgreSQL (found by review)."""
    admin = signed_in(app, make_user, "admin", ())
    assert send(admin, "/admin/exclusions/new", {"title": "Élève excluded"}).status_code == 302
    before = fingerprint(exclude=frozenset())
    for path, title in [("/admin/exclusions/new", "élève excluded"),
                        ("/admin/exclusions/new", "E\u0301LE\u0300VE EXCLUDED"),  # combining
                        ("/admin/exclusions/mappa_managed", "ÉLÈVE EXCLUDED")]:
        response = send(admin, path, {"title": title, "offered": "y"})
        assert response.status_code == 422, title
        assert "An exclusion with this title already exists" in text(response)
    assert fingerprint(exclude=frozenset()) == before
    # its own title in another case is no clash
    assert send(admin, "/admin/exclusions/eleve_excluded",
                {"title": "élève excluded", "offered": "y"}).status_code == 302
    assert exclusion("eleve_excluded").title == "élève excluded"


def test_an_edit_from_a_page_opened_before_anothers_save(app, make_user):
    a = signed_in(app, make_user, "admin", (), email="admin1@example.org")
    b = signed_in(app, make_user, "admin", (), email="admin2@example.org")
    path = "/admin/exclusions/mappa_managed"
    page_b = b.get(path).get_data(as_text=True)
    assert send(a, path, {"title": "MAPPA level 2 or 3", "offered": "y"}).status_code == 302
    hidden = dict(re.findall(r'name="(csrf_token|version)" type="hidden" value="([^"]*)"',
                             page_b))
    stale = b.post(path, data={**hidden, "title": MAPPA})  # stops offering it
    assert stale.status_code == 422 and STALE in text(stale)
    saved = exclusion("mappa_managed")
    assert (saved.title, saved.offered) == ("MAPPA level 2 or 3", True)


def test_an_unknown_exclusion_is_not_found(app, make_user):
    admin = signed_in(app, make_user, "admin", ())
    assert admin.get("/admin/exclusions/no_such_exclusion").status_code == 404


@pytest.mark.parametrize("role", ["caseworker", "lead", "evaluator"])
def test_only_admins_keep_the_exclusions(app, make_user, role):
    client = signed_in(app, make_user, role, ("coventry",) if role != "evaluator" else ())
    before = fingerprint()
    assert client.get("/admin/exclusions").status_code == 403
    assert client.get("/admin/exclusions/mappa_managed").status_code == 403
    token = csrf_token(client)
    assert client.post("/admin/exclusions/new",
                       data={"csrf_token": token, "title": INJUNCTION}).status_code == 403
    assert client.post("/admin/exclusions/mappa_managed",
                       data={"csrf_token": token, "title": "Retitled"}).status_code == 403
    assert fingerprint() == before
