from __future__ import annotations

from flask import abort, render_template, request
from flask_login import current_user

from casework.access import require
from casework.accounts import services as accounts
from casework.accounts.roles import Permission
from casework.audit import bp
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.audit.forms import KEYED_SUBJECT, AuditFilterForm
from casework.database import utcnow
from casework.diversion import services as diversion


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        abort(400)
    return int(raw)


@bp.route("/")
@require(Permission.AUDIT_READ_ALL, Permission.AUDIT_READ_SITES)
def events():
    """Admins see every event; leads see the events of their sites."""
    form = AuditFilterForm(request.args or None)
    criteria = audit.AuditFilter()
    filtered = not request.args or form.validate()
    if request.args and filtered:
        who = (form.actor.data or "").strip()
        actor = accounts.find_user_by_email(who) if who else None
        if who and actor is None:
            form.actor.errors = [*form.actor.errors, "No user has this email address"]
            filtered = False
        subject_id = form.subject_id_value()
        if (form.subject_type.data == KEYED_SUBJECT and subject_id is not None
                and subject_id not in {offence.key for offence in diversion.offences()}):
            # key-shaped words are still words: only the catalogue's keys are kept
            form.subject_id.errors = [*form.subject_id.errors, "No offence has this key"]
            filtered = False
        if filtered:
            criteria = audit.AuditFilter(
                actor_id=actor.id if actor else None,
                action=form.action.data or None,
                subject_type=form.subject_type.data or None,
                subject_id=subject_id,
                date_from=form.date_from.data,
                date_to=form.date_to.data,
            )
    site_ids = None if current_user.can(Permission.AUDIT_READ_ALL) else current_user.site_ids
    # Filters that cannot be read show no events, not every event: the
    # page listed the whole log beside "Not a valid choice", ignoring the
    # filters that were valid, as if they had matched.
    page = audit.search(
        criteria, site_ids=site_ids, before=_int_arg("before"), after=_int_arg("after")
    ) if filtered else audit.AuditPage([], None, None)
    audit.record(
        Action.AUDIT_VIEWED, actor=current_user, now=utcnow(),
        detail={k: v for k, v in vars(criteria).items() if v is not None},
    )
    names = accounts.emails_of({e.actor_id for e in page.events if e.actor_id is not None})
    reads_cases = current_user.can(Permission.CASE_READ)
    decides = current_user.can(Permission.TRIAGE_DECIDE)
    details = {event.id: audit.detail_shown(event, reads_cases=reads_cases,
                                            decides_triage=decides)
               for event in page.events}
    return render_template("audit/events.html", form=form, page=page, names=names,
                           filtered=filtered, details=details)
