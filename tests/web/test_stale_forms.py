"""An edit form opened before someone else saved the same record is not
saved over their change unseen (database.ChangedMeanwhile): it comes back,
422, with what was typed, saying what is saved now; saved again from there,
it replaces theirs knowingly. (From a review's reproductions: a date of
birth, which decides C1 and the age stratum, put back by a postcode edit; an
offence's gravity reverted; a note's correction undone; a pathway move
chosen from a pathway the person had left.)"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime

from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.intake.models import Person
from tests.conftest import PASSWORD, csrf_token, sign_in

STALE = "Someone else saved changes here since you opened this page."


def version_in(response) -> str:
    return re.search(r'name="version" type="hidden" value="([^"]*)"',
                     response.get_data(as_text=True)).group(1)


def two_signed_in(app, make_user, role, sites=("coventry",)):
    clients = []
    for n in (1, 2):
        user = make_user(role, sites, email=f"{role}{n}@example.org")
        client = app.test_client()
        assert sign_in(client, user.email, PASSWORD).status_code == 302
        clients.append(client)
    return clients


def saved_then_stale(a, b, path, form, first, second):
    """``a`` and ``b`` open ``path``; ``a`` saves ``form`` with ``first``
    changed; then ``b``, from the page it opened before, with ``second``:
    ``b``'s response."""
    va, vb = version_in(a.get(path)), version_in(b.get(path))
    assert a.post(path, data={**form, **first, "version": va,
                              "csrf_token": csrf_token(a, path)}).status_code == 302
    return b.post(path, data={**form, **second, "version": vb,
                              "csrf_token": csrf_token(b, path)})


def test_a_person_edit_from_a_page_opened_before_anothers_save(app, make_referral, make_user):
    person = make_referral("coventry", dob=date(2008, 1, 1)).person
    a, b = two_signed_in(app, make_user, "caseworker")
    path = f"/people/{person.id}/edit"
    base = {"first_name": person.first_name, "last_name": person.last_name,
            "date_of_birth": ["1", "1", "2008"], "gender": "male",
            "ethnicity": "white_british", "local_authority": "coventry"}
    stale = saved_then_stale(a, b, path, base, {"date_of_birth": ["1", "1", "2006"]},
                             {"postcode": "CV1 5FB"})
    assert stale.status_code == 422
    page = html.unescape(stale.get_data(as_text=True))
    assert STALE in page and "different from this form: date of birth, postcode" in page
    assert 'value="CV1 5FB"' in page  # what was typed is kept
    db.session.expire_all()
    assert db.session.get(Person, person.id).date_of_birth == date(2006, 1, 1)
    assert db.session.get(Person, person.id).postcode is None
    # saved again from the page drawn now: replaces the other change knowingly
    again = b.post(path, data={**base, "date_of_birth": ["1", "1", "2006"],
                               "postcode": "CV1 5FB", "version": version_in(stale),
                               "csrf_token": csrf_token(b, path)})
    assert again.status_code == 302
    db.session.expire_all()
    assert db.session.get(Person, person.id).postcode == "CV1 5FB"


def test_an_offence_edit_from_a_page_opened_before_anothers_save(app, make_user):
    from casework.diversion.models import Offence

    offence = db.session.scalars(select(Offence).order_by(Offence.key)).first()
    a, b = two_signed_in(app, make_user, "admin", sites=())
    path = f"/admin/offences/{offence.key}"
    form = {"title": offence.title, "legislation": offence.legislation,
            "category": offence.category, "gravity": str(offence.gravity)}
    if offence.outcome22_permitted:
        form["outcome22_permitted"] = "y"
    new_gravity = 5 if offence.gravity != 5 else 4
    stale = saved_then_stale(a, b, path, form, {"gravity": str(new_gravity)},
                             {"title": offence.title + " (corrected)"})
    assert stale.status_code == 422 and STALE in html.unescape(stale.get_data(as_text=True))
    db.session.expire_all()
    assert db.session.get(Offence, offence.id).gravity == new_gravity


def test_a_note_amended_meanwhile_is_not_undone(app, make_referral, make_user):
    from casework.notes import services as notes
    from casework.notes.models import Note

    person = make_referral("coventry").person
    author = make_user("caseworker", ("coventry",), email="author@example.org")
    lead = make_user("lead", ("coventry",), email="lead@example.org")
    note = notes.add_note(person, "case_note", notes.NoteContent(body="Met at school."),
                          restricted=False, actor=author, now=datetime.now(UTC))
    db.session.commit()
    path = f"/notes/{note.id}/amend"
    ca, cl = app.test_client(), app.test_client()
    sign_in(ca, author.email, PASSWORD), sign_in(cl, lead.email, PASSWORD)
    stale = saved_then_stale(ca, cl, path, {},
                             {"body": "Met at the youth centre, not school.",
                              "reason": "Wrong place"},
                             {"body": "Met at school. Mother present.", "reason": "Who was there"})
    assert stale.status_code == 422
    assert "Mother present" in stale.get_data(as_text=True)
    db.session.expire_all()
    current = db.session.get(Note, note.id)
    assert (current.revision_count, current.body) == (2, "Met at the youth centre, not school.")


def test_a_pathway_move_chosen_from_a_pathway_since_left(app, randomised, make_user):
    from casework.pathways.models import PathwayEpisode

    person = randomised("treatment")
    a, b = two_signed_in(app, make_user, "caseworker")
    path = f"/people/{person.id}/pathway"
    stale = saved_then_stale(a, b, path, {"effective_date": ["3", "11", "2026"]},
                             {"target": "engaged"}, {"target": "at_risk_monitoring"})
    assert stale.status_code == 422
    page = stale.get_data(as_text=True)
    assert STALE in html.unescape(page) and "<strong>Engaged</strong>" in page
    episodes = db.session.scalars(select(PathwayEpisode.pathway).where(
        PathwayEpisode.person_id == person.id).order_by(PathwayEpisode.id)).all()
    assert [str(e) for e in episodes][-1] == "engaged"
    changes = db.session.scalars(select(AuditEvent.id).where(
        AuditEvent.action == "pathway:changed", AuditEvent.subject_id == str(person.id))).all()
    assert len(changes) == len(episodes)  # one a move made, none for the refused one


def test_a_user_edit_from_a_page_opened_before_anothers_save(app, make_user):
    from casework.accounts.models import User

    target = make_user("caseworker", ("coventry",), email="target@example.org")
    a, b = two_signed_in(app, make_user, "admin", sites=())
    form = {"display_name": target.display_name, "role": "caseworker", "sites": ["coventry"]}
    stale = saved_then_stale(a, b, f"/admin/users/{target.id}", form,
                             {"sites": ["coventry", "walsall"]}, {"display_name": "Renamed"})
    assert stale.status_code == 422
    assert "different from this form: display name, sites" in html.unescape(
        stale.get_data(as_text=True))
    db.session.expire_all()
    user = db.session.get(User, target.id)
    assert (user.display_name, sorted(s.key for s in user.sites)) == (
        target.display_name, ["coventry", "walsall"])


def test_a_trial_edit_from_a_page_opened_before_anothers_save(app, make_user, make_trial):
    from casework.trial.models import Trial

    trial = make_trial()
    a, b = two_signed_in(app, make_user, "admin", sites=())
    form = {"name": trial.name, "sites": ["coventry", "wolverhampton"], "ratio_treatment": "1",
            "ratio_control": "1", "method": "permuted_blocks", "block_sizes": "2, 4, 6",
            "status": "open"}
    stale = saved_then_stale(a, b, f"/admin/trials/{trial.id}", form, {"status": "closed"},
                             {"name": "CIRV, renamed"})
    assert stale.status_code == 422
    assert "different from this form: name, status" in html.unescape(
        stale.get_data(as_text=True))
    db.session.expire_all()
    assert (db.session.get(Trial, trial.id).status, db.session.get(Trial, trial.id).name) == (
        "closed", trial.name)


def test_triage_facts_changed_meanwhile_are_not_put_back(app, make_referral, make_user,
                                                        triage_referral):
    from casework.triage.models import Triage

    referral = make_referral("coventry")
    triage = triage_referral(referral)
    a, b = two_signed_in(app, make_user, "caseworker")
    form = {"group_violence_evidence": ["recent_violence"], "panel_confirmed": "yes",
            "recommendation": "eligible"}
    stale = saved_then_stale(a, b, f"/referrals/{referral.id}/triage", form,
                             {"exclusions": ["other_focused_deterrence"],
                              "recommendation": "ineligible"},
                             {"recommendation_note": "Seen with the group twice"})
    assert stale.status_code == 422
    assert "different from this form: exclusions, recommendation" in html.unescape(
        stale.get_data(as_text=True))
    db.session.expire_all()
    saved = db.session.get(Triage, triage.id)
    assert (saved.exclusions, saved.recommendation_note) == (["other_focused_deterrence"], None)


def test_a_form_saved_with_nobody_else_changing_anything_is_never_stale(
        app, randomised, make_user, make_referral, triage_referral):
    """Each versioned form, opened and sent back as the page drew it (with
    what a save needs typed in), meets no ChangedMeanwhile: the version drawn
    and the one compared are the same for an unchanged record."""
    from casework.diversion.models import Offence
    from casework.notes import services as notes
    from casework.trial.models import Trial
    from tests.web.forms import forms_on

    person = randomised("treatment")
    author = make_user("lead", ("coventry", "wolverhampton"), email="all@example.org")
    note = notes.add_note(person, "case_note", notes.NoteContent(body="Met."),
                          restricted=False, actor=author, now=datetime.now(UTC))
    target = make_user("caseworker", ("coventry",), email="t@example.org")
    db.session.commit()
    trial = db.session.scalars(select(Trial)).one()
    referral = make_referral("coventry")
    triage_referral(referral, recommendation_note="Panel on Monday")
    offence = db.session.scalars(select(Offence).order_by(Offence.key)).first()
    pages = {
        "lead": [(f"/people/{person.id}/edit", {}),
                 (f"/notes/{note.id}/amend", {"body": "Met at school.", "reason": "Where"}),
                 (f"/people/{person.id}/pathway", {"target": "engaged",
                                                   "effective_date": ["3", "11", "2026"]}),
                 (f"/referrals/{referral.id}/triage", {})],
        "admin": [(f"/admin/offences/{offence.key}", {}), (f"/admin/users/{target.id}", {}),
                  (f"/admin/trials/{trial.id}", {})],
    }
    for role, paths in pages.items():
        client = app.test_client()
        sign_in(client, (author if role == "lead" else make_user(
            "admin", (), email="adm@example.org")).email, PASSWORD)
        for path, typed in paths:
            (form,) = [f for f in forms_on(client.get(path).get_data(as_text=True), path)
                       if "version" in f.fields]
            data: dict = {}
            for name, value in form.submitted():
                data.setdefault(name, []).append(value)
            data.update(typed)
            response = client.post(form.action or path, data=data)
            assert response.status_code == 302, (path, html.unescape(
                response.get_data(as_text=True)).split("There is a problem")[-1][:400])
