from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from casework.access import (
    get_visible_or_404,
    list_scope,
    require,
    visible_site_ids,
)
from casework.accounts.roles import Permission
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import ChangedMeanwhile, local_today, utcnow
from casework.extensions import db
from casework.forms import changed_meanwhile, choices, refused, sent_again, show_problems
from casework.intake import services as intake
from casework.intake.models import Person
from casework.pathways import bp, services
from casework.pathways.forms import DeviationForm, MoveForm, ProposalDecisionForm, SummaryForm
from casework.pathways.models import PathwayProposal, ProposalStatus
from casework.pathways.states import needs_approval, targets
from casework.submissions import AlreadySubmitted, check_earlier


def _person(person_id: int) -> Person:
    return get_visible_or_404(intake.visible_people(current_user), Person, person_id,
                              subject_type="person")


@bp.route("/people/<int:person_id>/pathway", methods=["GET", "POST"])
@require(Permission.PATHWAY_MOVE)
def move(person_id: int):
    person = _person(person_id)
    current = services.current_episode(person.id)
    form = MoveForm()
    if not form.is_submitted():
        form.version.data = services.pathway_version(current)

    refusal = services.pathway_problem(person)
    # a proposal waiting for a lead stops a second one, not a move: recording
    # one (an exit, accepted support) ends it as lapsed (services.move)
    pending = services.pending_proposal(person.id) if refusal is None else None

    def offered(current) -> list:
        """The moves this user may make or propose from ``current``."""
        return choices((p.value, p.label) for p in (
            targets(current.pathway, is_lead=current_user.can(Permission.PATHWAY_DECIDE),
                    proposing=pending is None)
            if current else []))

    form.target.choices = offered(current)
    if refusal is None and current and not form.target.choices:  # exited: a lead reopens
        refusal = (f"Only a lead can move {person.full_name} on from "
                   f"{current.pathway.label.lower()}")
    waiting = _waiting(person, pending)
    # a second proposal sent (a form drawn before the first, or sent twice):
    # refused as such, where the choices' own check said only that it is
    # not one of the options
    again = waiting if (pending and current and form.is_submitted()
                        and needs_approval(current.pathway, form.target.data)) else None
    done = None
    try:
        if form.is_submitted():  # sent again: the first click's move, not "someone else's"
            check_earlier(form.submission.data, "pathway_move", actor=current_user)
        if not refused(form, refusal or again) and not _moved_meanwhile(form, current) \
                and form.validate_on_submit():
            done = services.move(person, form.request(), actor=current_user, now=utcnow())
    except AlreadySubmitted as sent:  # a double click: the first moved them
        db.session.rollback()
        return sent_again(sent, url_for("intake.person", person_id=person.id))
    except services.PathwayError as error:
        db.session.rollback()
        show_problems(form, error.problems)
    except ChangedMeanwhile as error:
        db.session.rollback()
        changed_meanwhile(form, error)
        current = services.current_episode(person.id)  # "Now:" as it is
        # and the proposal as it is: a lead who approved it meanwhile left the
        # page saying it still waited (found by review)
        pending = services.pending_proposal(person.id) if refusal is None else None
        waiting = _waiting(person, pending)
        form.target.choices = offered(current)
    if done is not None:
        if isinstance(done, PathwayProposal):
            flash("Proposal sent to a lead for approval", "success")
        elif pending is not None and pending.status == ProposalStatus.LAPSED:  # ended by it
            flash(f"Moved to {done.pathway.label.lower()}. The proposal to move "
                  f"{person.full_name} to {pending.to_pathway.label.lower()} lapsed", "success")
        else:
            flash(f"Moved to {done.pathway.label.lower()}", "success")
        return redirect(url_for("intake.person", person_id=person.id))
    status = 422 if form.errors or form.form_errors else 200
    intake.person_shown(person, page=request.endpoint)
    return render_template("pathways/move.html", form=form, person=person, current=current,
                           waiting=waiting, pending=pending, refusal=refusal), status


def _waiting(person, pending: PathwayProposal | None) -> str | None:
    return (f"A proposal to move {person.full_name} to {pending.to_pathway.label.lower()} "
            "is waiting for a lead") if pending else None


def _moved_meanwhile(form: MoveForm, current) -> bool:
    """Whether a move form sent was drawn from a pathway the person has
    since left (another tab, or a second click, moved them first): checked
    before the form's own checks, since the move chosen there may be offered
    no longer, and "Move to must be one of the options" said nothing of
    why. The service checks again, under the person's lock."""
    if not form.is_submitted():
        return False
    try:
        services.check_version(current, form.version.data)
    except ChangedMeanwhile as error:
        changed_meanwhile(form, error)
        return True
    return False


@bp.route("/pathways/approvals")
@require(Permission.DISRUPTION_APPROVE)
def approvals():
    """Proposals waiting for the lead at their sites, or at one of them
    (``site``: the dashboard's figure links here for the site chosen there)."""
    scope = list_scope()
    proposals = services.pending_proposals(scope.site_ids)
    audit.viewed(Action.PATHWAY_APPROVALS_LISTED, shown=len(proposals), **scope.audited)
    return render_template("pathways/approvals.html", proposals=proposals, site=scope.site)


@bp.route("/pathways/proposals/<int:proposal_id>", methods=["GET", "POST"])
@require(Permission.DISRUPTION_APPROVE)
def proposal(proposal_id: int):
    record = get_visible_or_404(services.visible_proposals(current_user), PathwayProposal,
                                proposal_id, subject_type="pathway_proposal")
    form = ProposalDecisionForm()
    if form.validate_on_submit():
        try:
            if form.decision.data == "approve":
                services.approve(record, actor=current_user, now=utcnow())
            else:
                services.reject(record, form.note.data, actor=current_user, now=utcnow())
        except services.PathwayError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        else:
            flash("Proposal approved" if form.decision.data == "approve"
                  else "Proposal rejected", "success")
            return redirect(url_for("pathways.approvals"))
    status = 422 if form.errors or form.form_errors else 200
    audit.viewed(Action.PATHWAY_PROPOSAL_VIEWED, subject_type="pathway_proposal",
                 subject_id=record.id, site_id=record.site_id)
    return render_template("pathways/proposal.html", proposal=record, form=form), status


@bp.route("/people/<int:person_id>/deviation", methods=["GET", "POST"])
@require(Permission.PATHWAY_MOVE)
def deviation(person_id: int):
    person = _person(person_id)
    # the page is linked from a control-arm person's record only, but
    # reachable for anyone by its address
    refusal = services.deviation_problem(person)
    form = DeviationForm()
    if not refused(form, refusal) and form.validate_on_submit():
        try:
            services.record_deviation(person, form.occurred_on.data, form.description.data,
                                      actor=current_user, now=utcnow(),
                                      submission=form.submission.data)
        except services.PathwayError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        except AlreadySubmitted as sent:  # a double click: the first recorded it
            db.session.rollback()
            return sent_again(sent, url_for("intake.person", person_id=person.id))
        else:
            flash("Protocol deviation recorded", "success")
            return redirect(url_for("intake.person", person_id=person.id))
    status = 422 if form.errors or form.form_errors else 200
    intake.person_shown(person, page=request.endpoint)
    return render_template("pathways/deviation.html", form=form, person=person,
                           refusal=refusal), status


@bp.route("/pathways/deviations")
@require(Permission.CASELOAD_REVIEW)
def deviations():
    """The protocol deviations of the lead's sites, or of one of them
    (``site``: the dashboard's figure links here for the site chosen
    there), the latest DEVIATIONS_SHOWN, saying so when there are more."""
    scope = list_scope()
    shown = services.DEVIATIONS_SHOWN
    rows = services.deviations(scope.site_ids, limit=shown + 1)
    more, rows = len(rows) > shown, rows[:shown]
    audit.viewed(Action.DEVIATION_LISTED, shown=len(rows), **scope.audited)
    return render_template("pathways/deviations.html", deviations=rows, site=scope.site,
                           more=more, shown=shown)


@bp.route("/pathways/summary")
@require(Permission.CASELOAD_REVIEW)
def summary():
    today = local_today()
    form = SummaryForm(request.args)
    date_from, date_to = today - timedelta(days=90), today
    if request.args and form.validate():
        date_from = form.date_from.data or date_from
        date_to = form.date_to.data or date_to
        if date_from > date_to:
            form.date_to.errors = [*form.date_to.errors, "The end must be on or after the start"]
            date_from, date_to = date_to, date_from
    form.date_from.data, form.date_to.data = date_from, date_to
    result = services.summary(visible_site_ids(), date_from=date_from, date_to=date_to)
    return render_template("pathways/summary.html", form=form, summary=result)
