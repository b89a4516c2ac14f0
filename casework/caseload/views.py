from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from casework.access import deny, get_visible_or_404, require, visible_site_ids
from casework.accounts.roles import Permission
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.caseload import bp, charts, services
from casework.caseload.forms import ReassignForm, ReviewForm, SiteForm
from casework.database import local_today, replica_reads, utcnow
from casework.extensions import db
from casework.forms import choices, local_path, sent_again, show_problems, whole_number
from casework.intake import services as intake
from casework.intake.models import Person
from casework.notes import contact_thresholds
from casework.pathways.states import Pathway
from casework.submissions import AlreadySubmitted
from casework.widgets import list_query


def _chosen_sites() -> tuple[SiteForm, frozenset[int]]:
    """The lead's sites, or the one they chose."""
    sites = services.sites_of(current_user)
    form = SiteForm(request.args)
    form.site.choices = choices([("", "All your sites")] + [(s.id, s.name) for s in sites])
    ids = frozenset(s.id for s in sites)
    chosen = whole_number(form.site.data)
    if chosen in ids:
        return form, frozenset({chosen})
    form.site.data = ""
    return form, ids


@bp.route("/dashboard")
@require(Permission.CASELOAD_REVIEW)
@replica_reads
def dashboard():
    form, site_ids = _chosen_sites()
    figures = services.kept_dashboard(site_ids, actor=current_user._get_current_object(),
                                      today=local_today(), thresholds=contact_thresholds())
    audit.viewed(Action.DASHBOARD_VIEWED, sites=sorted(site_ids))
    chart = charts.referrals_per_week(figures.referrals_by_week,
                                      nonce=getattr(request, "csp_nonce", ""))
    site = form.site.data or None
    return render_template("caseload/dashboard.html", form=form, figures=figures,
                           chart=chart, site=site, weeks=_weeks(figures, site),
                           keep_seconds=current_app.config["DASHBOARD_FIGURES_SECONDS"])


def _weeks(figures: services.Dashboard, site: str | None) -> list[tuple]:
    """(Monday, referrals, the referrals list of that week): the route's URL
    built once, each week's query added to it (26 url_for calls were a fifth
    of the page's time)."""
    base = url_for("intake.referrals") + "?" + (urlencode({"site": site}) + "&" if site else "")
    rows = []
    for monday, count in figures.referrals_by_week:
        sunday = monday + timedelta(days=6)
        # whole numbers only, so nothing to escape
        dates = (f"date_from={monday.day:d}&date_from={monday.month:d}&date_from={monday.year:d}"
                 f"&date_to={sunday.day:d}&date_to={sunday.month:d}&date_to={sunday.year:d}")
        rows.append((monday, count, base + dates))
    return rows


@bp.route("/caseload")
@require(Permission.CASELOAD_REVIEW)
@replica_reads
def caseloads():
    form, site_ids = _chosen_sites()
    page = services.caseloads(site_ids, actor=current_user, today=local_today(),
                              thresholds=contact_thresholds(),
                              page=whole_number(request.args.get("page", "1")) or 1,
                              per_page=services.CASEWORKERS_PER_PAGE)
    audit.viewed(Action.CASELOAD_VIEWED, sites=sorted(site_ids), page=page.page,
                 shown=len(page.rows))
    return render_template("caseload/caseloads.html", form=form, page=page,
                           site=form.site.data or None)


def _filters(args) -> services.CaseFilter:
    number = lambda name: whole_number(args.get(name))  # noqa: E731
    return services.CaseFilter(
        site_id=number("site"), caseworker_id=number("caseworker"),
        unassigned=args.get("caseworker") == "none",
        needs_caseworker=args.get("caseworker") == "needed",
        pathway=args.get("pathway") if args.get("pathway") in set(Pathway) else None,
        arm=args.get("arm") if args.get("arm") in ("treatment", "control") else None,
        signal=args.get("signal") if args.get("signal") in (
            "overdue", "review_due", "review_overdue") else None,
        include_closed=args.get("closed") == "1",
    )


def _case_list(form: ReassignForm | None = None, status: int = 200, *, mine: bool = False,
               back: str | None = None, posted: frozenset[int] = frozenset()):
    """The case list (or "My caseload"). After a reassignment that failed,
    ``back`` is the list it was sent from, shown again as it was, and
    ``posted`` the sites of the cases it was sent with."""
    args = MultiDict(parse_qsl(urlsplit(back).query, keep_blank_values=True)) if back \
        else request.args
    filters = services.CaseFilter(caseworker_id=current_user.id) if mine else _filters(args)
    page_arg = args.get("page", "1")
    page = services.case_list(filters, visible_site_ids(), actor=current_user,
                              today=local_today(), thresholds=contact_thresholds(),
                              page=whole_number(page_arg) or 1)
    audit.viewed(Action.CASE_LISTED, filters={k: v for k, v in vars(filters).items() if v},
                 page=page.page, shown=len(page.rows),
                 **({"sites": [filters.site_id]} if filters.site_id else {}))
    # A case goes to a caseworker of a site it belongs to, so cases are
    # reassigned from a list of one site's: the choice is the caseworkers of
    # the sites every case shown belongs to, not every caseworker the lead
    # oversees (thousands, nationally).
    shown = (frozenset.intersection(*(row.sites for row in page.rows)) if page.rows
             else frozenset()) | posted
    choose_site = False
    if form is None and current_user.can(Permission.CASE_REASSIGN):
        choose_site = bool(page.rows) and not _assignable_sites(shown)
        form = None if choose_site else ReassignForm()
    if form is not None:
        form.to_user.choices = choices([("", "Select a caseworker")] + [
            (u.id, f"{u.display_name} ({u.role.label.lower()})") for u in _assignable(shown)])
    own = None
    if mine:
        rows = services.caseloads(current_user.site_ids, actor=current_user,
                                  today=local_today(), thresholds=contact_thresholds(),
                                  only=current_user.id).rows
        own = rows[0] if rows else None
    return render_template("caseload/cases.html", page=page, filters=filters, form=form,
                           mine=mine, own=own, selected=set(request.form.getlist("people")),
                           choose_site=choose_site, back=back or request.full_path,
                           site_names={s.id: s.name for s in services.sites_of(current_user)},
                           args=list_query("page", query=args)), status


def _back() -> str | None:
    """The list a reassignment form was sent from (its ``back`` field), if it
    is one of the case lists: a local path (no control characters: a CR or
    LF in it made the redirect after a reassignment a 500, found by review)."""
    back = local_path(request.form.get("back"))
    safe = back is not None and back.startswith("/caseload/") and "//" not in back
    return back if safe and urlsplit(back).path in (url_for("caseload.cases"),
                                                    url_for("caseload.mine")) else None


def _posted_people() -> list[int]:
    """The people a reassignment form was sent with, each once."""
    return list(dict.fromkeys(n for n in map(whole_number, request.form.getlist("people"))
                              if n is not None))


def _sites_of(people: list[int]) -> frozenset[int]:
    """The sites the cases a reassignment form was sent with belong to (none
    for more than may be reassigned at once: the reassignment says so)."""
    if not people or len(people) > services.MAX_CASES_AT_ONCE:
        return frozenset()
    return frozenset().union(*services.sites_of_cases(people).values())


def _assignable_sites(site_ids: frozenset[int]) -> frozenset[int]:
    """Those of ``site_ids`` that are the user's."""
    return frozenset(s.id for s in services.sites_of(current_user)) & site_ids


def _assignable(site_ids: frozenset[int]) -> list:
    """Caseworkers and leads of those of ``site_ids`` that are the user's."""
    return services.assignable(_assignable_sites(site_ids))


@bp.route("/caseload/cases")
@require(Permission.CASE_READ)
def cases():
    return _case_list()


@bp.route("/caseload/mine")
@require(Permission.CASE_READ)
def mine():
    return _case_list(mine=True)


@bp.route("/caseload/reassign", methods=["POST"])
@require(Permission.CASE_REASSIGN)
def reassign():
    form = ReassignForm()
    people = _posted_people()
    posted = _sites_of(people)
    form.to_user.choices = choices([("", "")] + [
        (u.id, u.display_name) for u in _assignable(posted)])
    # Before the fields: the caseworkers offered are those of the cases' sites,
    # so with no cases (or too many: none are read) every choice is "not valid".
    if not people or len(people) > services.MAX_CASES_AT_ONCE:
        show_problems(form, {"people": services.TOO_MANY_CASES if people
                             else services.NO_CASES})
    elif hidden := services.hidden_from(current_user, people):
        # a person the lead may not see answers as a missing one, and the
        # refusal is audited (DESIGN.md "Who uses it") under the hidden
        # people's sites, whose leads see who tried: its site if one, else
        # named in the detail (as a list of several sites' people is)
        sites = sorted({site_id for site_id in hidden.values() if site_id is not None})
        deny(404, reason="outside_scope" if sites else "not_found",
             subject_type="person", subject_id=next(iter(hidden)),
             site_id=sites[0] if len(sites) == 1 else None,
             people=sorted(hidden), **({"sites": sites} if len(sites) > 1 else {}))
    elif form.validate_on_submit():
        try:
            done = services.reassign(
                people, whole_number(form.to_user.data),
                form.reason.data, actor=current_user, now=utcnow())
        except services.CaseloadError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        else:
            flash(f"{len(done)} case{'s' if len(done) != 1 else ''} reassigned", "success")
            return redirect(_back() or url_for("caseload.cases"))
    back = _back()
    return _case_list(form, 422, back=back, posted=posted,
                      mine=bool(back) and urlsplit(back).path == url_for("caseload.mine"))


@bp.route("/people/<int:person_id>/reviews/new", methods=["GET", "POST"])
@require(Permission.CASELOAD_REVIEW)
def review(person_id: int):
    person = get_visible_or_404(intake.visible_people(current_user), Person, person_id,
                                subject_type="person")
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            services.record_review(person, form.details(), actor=current_user, now=utcnow())
        except services.CaseloadError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        except AlreadySubmitted as sent:  # a double click: the first recorded it
            db.session.rollback()
            return sent_again(sent, url_for("intake.person", person_id=person.id))
        else:
            flash("Review recorded", "success")
            return redirect(url_for("intake.person", person_id=person.id))
    status = 422 if form.errors or form.form_errors else 200
    intake.person_shown(person, page=request.endpoint)
    return render_template("caseload/review.html", form=form, person=person,
                           reviews=services.reviews_for(person.id)), status
