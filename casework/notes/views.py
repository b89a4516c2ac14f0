from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from casework.access import deny, get_visible_or_404, require, visible_site_ids
from casework.accounts.roles import Permission
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import ChangedMeanwhile, local_today, utcnow
from casework.extensions import db
from casework.forms import changed_meanwhile, sent_again, show_problems, whole_number
from casework.intake import services as intake
from casework.intake.models import Person
from casework.notes import bp, contact_thresholds, services
from casework.notes.forms import AmendForm, NewNoteForm, SearchForm
from casework.notes.models import Note
from casework.notes.reference import NoteKind
from casework.submissions import AlreadySubmitted


def _person(person_id: int) -> Person:
    return get_visible_or_404(intake.visible_people(current_user), Person, person_id,
                              subject_type="person")


def _note(note_id: int) -> Note:
    """A note the user may read; restricted notes answer 404 to everyone else."""
    return get_visible_or_404(services.visible_notes(current_user), Note, note_id,
                              subject_type="note")


def _more_problems(form, kind: str, person: Person) -> None:
    """When the form's own checks fail, show the service's too, so every
    problem is listed at once (fields that already have a message keep it)."""
    try:
        services.check_content(kind, form.content(), today=local_today(),
                               born=person.date_of_birth)
    except services.NoteError as error:
        show_problems(form, {name: message for name, message in error.problems.items()
                             if not (name and getattr(form, name).errors)})


@bp.route("/people/<int:person_id>/notes/new", methods=["GET", "POST"])
@require(Permission.NOTE_WRITE)
def new(person_id: int):
    person = _person(person_id)
    form = NewNoteForm()
    if not form.is_submitted():
        form.kind.data = request.args.get("kind") if request.args.get("kind") in set(
            NoteKind) else NoteKind.CASE_NOTE.value
    if form.validate_on_submit():
        try:
            note = services.add_note(person, form.kind.data or "", form.content(),
                                     restricted=form.restricted.data, actor=current_user,
                                     now=utcnow(), submission=form.submission.data)
        except services.NoteError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        except AlreadySubmitted as sent:  # a double click: the first made the note
            db.session.rollback()
            return sent_again(sent, url_for("intake.person", person_id=person.id))
        else:
            message = f"{note.kind.label} saved"
            if note.protocol_deviation_id:
                message += ("; this person is in the control arm, so the contact is recorded "
                            "as a protocol deviation")
            flash(message, "success")
            return redirect(url_for("intake.person", person_id=person.id))
    elif form.is_submitted():
        _more_problems(form, form.kind.data or "", person)
    status = 422 if form.errors or form.form_errors else 200
    intake.person_shown(person, page=request.endpoint)
    return render_template("notes/new.html", form=form, person=person), status


@bp.route("/notes/<int:note_id>")
@require(Permission.CASE_READ)
def show(note_id: int):
    note = _note(note_id)
    services.record_view(note, actor=current_user, now=utcnow())
    history = services.revisions(note) if services.can_see_history(note, current_user) else []
    amended = (history[0] if history else services.current_revision(note)) \
        if note.is_amended else None  # the newest first
    return render_template("notes/show.html", note=note, history=history, amended=amended,
                           can_amend=services.can_amend(note, current_user))


@bp.route("/notes/<int:note_id>/amend", methods=["GET", "POST"])
@require(Permission.NOTE_WRITE)
def amend(note_id: int):
    note = _note(note_id)
    if not services.can_amend(note, current_user):
        _not_the_author(note)
    form = AmendForm()
    if not form.is_submitted():
        form.fill_from(note)
        form.version.data = services.note_version(note)
    if form.validate_on_submit():
        try:
            services.amend_note(note, form.content(), form.reason.data, actor=current_user,
                                now=utcnow(), based_on=form.version.data)
        except services.NoteError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        except ChangedMeanwhile as error:
            db.session.rollback()
            changed_meanwhile(form, error)
        else:
            flash("Amendment saved; the earlier version is kept", "success")
            return redirect(url_for("notes.show", note_id=note.id))
    elif form.is_submitted():
        _more_problems(form, note.kind, note.person)
    status = 422 if form.errors or form.form_errors else 200
    services.record_view(note, actor=current_user, now=utcnow())  # its body, in the form
    return render_template("notes/amend.html", form=form, note=note), status


def _not_the_author(note: Note):
    """A caseworker's role includes amending notes, but only their own: the
    refusal (403, audited as access:denied) says who may amend this one,
    not "Your role does not include this"."""
    deny(403, reason="not_author", subject_type="note", subject_id=note.id, site_id=note.site_id,
         page=render_template("notes/not_author.html", note_id=note.id, kind=note.kind))


@bp.route("/notes/search")
@require(Permission.CASE_READ)
def search():
    form = SearchForm(request.args)
    text = (form.q.data or "").strip() if form.validate() else ""
    page_number = request.args.get("page", "1")
    results = services.search_notes(text, actor=current_user,
                                    page=whole_number(page_number) or 1)
    if text:  # the words searched for stay out of the log; the notes shown go in
        audit.viewed(Action.NOTE_SEARCHED, found=results.total, more=results.capped,
                     page=results.page, notes=[note.id for note in results.notes],
                     people=sorted({note.person_id for note in results.notes}))
    return render_template("notes/search.html", form=form, results=results, text=text)


@bp.route("/contacts/overdue")
@require(Permission.CASE_READ)
def overdue():
    rows = services.overdue_contacts(current_user, today=local_today(),
                                     thresholds=contact_thresholds(),
                                     site_ids=visible_site_ids())
    audit.viewed(Action.CONTACT_OVERDUE_LISTED, shown=len(rows))
    return render_template("notes/overdue.html", rows=rows, thresholds=contact_thresholds())
