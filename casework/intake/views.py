from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from casework.access import get_in_scope_or_404, get_visible_or_404, require, visible_or_404
from casework.accounts.roles import Permission
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.caseload import services as caseload_services
from casework.database import ChangedMeanwhile, local_today, utcnow
from casework.extensions import db
from casework.forms import (
    changed_meanwhile,
    choices,
    sent_again,
    show_more_problems,
    show_problems,
    whole_number,
)
from casework.intake import bp, services
from casework.intake.forms import CloseReferralForm, PersonForm, ReferralFilterForm, ReferralForm
from casework.intake.models import Person, Referral
from casework.intake.reference import CLOSE_REASONS, ReferralStatus
from casework.notes import contact_thresholds, timeline
from casework.notes import services as note_services
from casework.pathways import services as pathway_services
from casework.submissions import AlreadySubmitted, check_earlier
from casework.triage import services as triage_services
from casework.trial import services as trial_services
from casework.words import listed


def _site_choices(prompt: str):
    sites = current_user.sites if current_user.is_site_scoped else []
    return choices([("", prompt)] + [(site.id, site.name) for site in sites])


@bp.route("/referrals")
@require(Permission.CASE_READ)
def referrals():
    form = ReferralFilterForm(request.args or None)
    form.site.choices = _site_choices("Any of your sites")
    query = services.ReferralQuery()
    filtered = not request.args or form.validate()
    if request.args and filtered:
        query = services.ReferralQuery(
            text=(form.q.data or "").strip() or None,
            status=form.status.data or None,
            site_id=int(form.site.data) if form.site.data else None,
            source=form.source.data or None,
            date_from=form.date_from.data,
            date_to=form.date_to.data,
            sort=form.sort.data or "newest",
        )
    page_number = request.args.get("page", "1")
    # filters that cannot be read list nothing, not every referral as if they matched
    page = services.search_referrals(
        query, actor=current_user, page=whole_number(page_number) or 1
    ) if filtered else services.ReferralPage([], 0, 1, services.REFERRALS_PER_PAGE)
    audit.record(
        Action.REFERRAL_LISTED, actor=current_user, now=utcnow(),
        detail={"filters": {k: v for k, v in vars(query).items() if v and k != "text"},
                "searched": bool(query.text), "page": page.page, "shown": len(page.referrals),
                # a list of one site is that site's event (audit.services._sites_shown)
                **({"sites": [query.site_id]} if query.site_id else {})},
    )
    return render_template("intake/referrals.html", form=form, page=page, filtered=filtered)


@bp.route("/referrals/new", methods=["GET", "POST"])
@require(Permission.REFERRAL_CREATE)
def new_referral():
    form = ReferralForm()
    form.site.choices = _site_choices("Select a site")
    if request.method == "GET" and len(current_user.sites) == 1:
        form.site.data = str(current_user.sites[0].id)
    if request.method == "POST" and request.form.get("change_details"):
        # back from the duplicates page to the form, everything typed in it
        # (the browser's Back gave an empty form, the names not refilled)
        return render_template("intake/new_referral.html", form=form)
    if form.validate_on_submit():
        choice = request.form.get("person_choice", "")
        # a person's id, or the token standing for one of another site's
        chosen = whole_number(choice, maximum=2**62)
        if chosen is None and choice.startswith(services.HELD_CHOICE):
            chosen = choice
        try:
            recorded = services.record_referral(
                form.person_details(), form.referral_details(),
                existing_person_id=chosen,
                new_person_confirmed=choice == "new",
                actor=current_user, now=utcnow(), submission=form.submission.data,
            )
        except AlreadySubmitted as sent:  # a double click: the first recorded it
            db.session.rollback()
            return _already_recorded(sent.earlier)
        except services.PossibleDuplicates as found:
            services.candidates_shown(found.candidates, page=request.endpoint)
            # sent from the duplicates page with nothing chosen: no choice is
            # preselected there, so it is asked for again
            choice_error = ("Select who the referral is about: one of the people listed, or "
                            "a new person") if request.form.get("duplicates_shown") else None
            return render_template(
                "intake/duplicates.html", candidates=found.candidates, form=None,
                choice_of=services.choice_of,
                carried=_carried_fields(), choice_error=choice_error,
            ), 422 if choice_error else 200
        except services.IntakeError as error:
            services.candidates_shown(error.shown, page=request.endpoint)
            show_problems(form, error.problems)
        else:
            flash(f"Referral {recorded.reference} recorded", "success")
            if choice not in ("", "new") and (set_aside := services.details_set_aside(
                    recorded.person, form.person_details(), today=local_today())):
                flash(f"What you typed for their {listed(set_aside)} differs from "
                      f"{recorded.person.full_name}'s record and was not saved: change it "
                      "on their record if it has changed", "info")
            return redirect(url_for("intake.person", person_id=recorded.person_id))
    elif form.is_submitted():  # with the form's own errors, every other problem too
        show_more_problems(form, services.new_referral_problems(
            form.person_details(), form.referral_details(), actor=current_user,
            today=local_today()))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("intake/new_referral.html", form=form), status


def _already_recorded(earlier):
    """The answer to a referral form sent again: the referral it recorded
    (someone else's key: the list, and nothing about theirs)."""
    referral = db.session.get(Referral, earlier.subject_id) if earlier.subject_id else None
    if referral is None:
        flash("This form was already sent", "info")
        return redirect(url_for("intake.referrals"))
    flash(f"Referral {referral.reference} was already recorded: it is recorded once", "info")
    return redirect(url_for("intake.person", person_id=referral.person_id))


def _carried_fields() -> list[tuple[str, str]]:
    """What was typed, to re-post from the duplicate page (nothing is lost)."""
    return [(name, value) for name, value in request.form.items(multi=True)
            if name not in {"csrf_token", "person_choice", "submit", "duplicates_shown",
                            "change_details"}]


@bp.route("/people/<int:person_id>")
@require(Permission.CASE_READ)
def person(person_id: int):
    found = services.person_for_page(current_user, person_id)
    record = visible_or_404(found and found.person, Person, person_id, subject_type="person")
    page_number = request.args.get("page", "1")
    # each read only if the person has any (most have none of these)
    allocations = (trial_services.allocations_for_person(record.id)
                   if "allocations" in found.has else [])
    pathway = pathway_services.person_pathway(record.id, allocations)
    record_page = timeline.person_timeline(record.id, actor=current_user,
                                           page=whole_number(page_number) or 1)
    services.record_person_view(record, record_page.items, actor=current_user, now=utcnow())
    return render_template(
        "intake/person.html", person=record, close_reasons=CLOSE_REASONS,
        ReferralStatus=ReferralStatus,
        triages=triage_services.triages_by_referral(record.id) if "triages" in found.has else {},
        allocations=allocations, pathway=pathway,
        review=caseload_services.latest_review(record.id) if "reviews" in found.has else None,
        timeline=record_page,
        overdue=note_services.person_overdue(record.id, actor=current_user,
                                             today=local_today(),
                                             thresholds=contact_thresholds(),
                                             pathway=pathway),
    )


@bp.route("/people/<int:person_id>/edit", methods=["GET", "POST"])
@require(Permission.PERSON_EDIT)
def edit_person(person_id: int):
    record = get_visible_or_404(
        services.visible_people(current_user), Person, person_id, subject_type="person"
    )
    form = PersonForm(obj=None if request.method == "POST" else record)
    if not form.is_submitted():
        form.version.data = services.person_version(record)
    saved = None
    try:
        if form.is_submitted():  # sent again: the first click's change, not "someone else's"
            check_earlier(form.submission.data, "person_edit", actor=current_user)
        if form.validate_on_submit():
            saved = services.update_person(record, form.person_details(), actor=current_user,
                                           now=utcnow(), based_on=form.version.data,
                                           submission=form.submission.data)
        elif form.is_submitted() and (more := services.edit_problems(
                record, form.person_details(), actor=current_user,
                today=local_today())) is not None:
            # with the form's own errors, every other problem too
            shown = not form.pnc_reference.errors and "pnc_reference" in more.problems
            show_more_problems(form, more.problems)
            services.candidates_shown(more.shown if shown else [], page=request.endpoint)
    except AlreadySubmitted as sent:  # a double click: the first saved it
        db.session.rollback()
        return sent_again(sent, url_for("intake.person", person_id=record.id))
    except services.IntakeError as error:
        services.candidates_shown(error.shown, page=request.endpoint)
        show_problems(form, error.problems)
    except ChangedMeanwhile as error:
        db.session.rollback()
        changed_meanwhile(form, error)
    if saved is not None:
        flash("Changes saved", "success")
        # decisions made on the facts as they were (a triage decided, an
        # allocation) are not changed by the edit: the editor is told
        for notice in saved.notices:
            flash(notice, "info")
        return redirect(url_for("intake.person", person_id=record.id))
    status = 422 if form.errors or form.form_errors else 200
    services.person_shown(record, page=request.endpoint)
    return render_template("intake/edit_person.html", form=form, person=record), status


@bp.route("/referrals/<int:referral_id>/close", methods=["GET", "POST"])
@require(Permission.REFERRAL_CREATE)
def close_referral(referral_id: int):
    referral = get_in_scope_or_404(Referral, referral_id, subject_type="referral")
    form = CloseReferralForm()
    if referral.status == ReferralStatus.CLOSED:
        flash(f"Referral {referral.reference} is already closed", "info")
        return redirect(url_for("intake.person", person_id=referral.person_id))
    if form.validate_on_submit():
        try:
            services.close_referral(referral, form.reason.data, actor=current_user,
                                    now=utcnow())
        except services.IntakeError as error:  # closed or triaged meanwhile
            db.session.rollback()
            show_problems(form, error.problems)
        else:
            flash(f"Referral {referral.reference} closed", "success")
            return redirect(url_for("intake.person", person_id=referral.person_id))
    # the reasons it may be closed with now (all are taken by the form, and
    # the service says why one is not: a triage recorded meanwhile counts)
    form.reason.choices = choices(services.close_reasons(referral).items())
    status = 422 if form.errors else 200
    services.person_shown(referral.person, page=request.endpoint, site_id=referral.site_id)
    return render_template("intake/close_referral.html", form=form, referral=referral), status
