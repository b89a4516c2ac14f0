from __future__ import annotations

import logging
import sys

from flask import Response, abort, current_app, render_template, request, stream_with_context
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from casework.access import require
from casework.accounts.roles import Permission
from casework.database import from_replica, replica_reads, streamed_from_replica, utcnow
from casework.extensions import db
from casework.extracts import bp, consort, services
from casework.extracts.forms import ExtractForm, TrialChoiceForm
from casework.forms import choices, show_problems
from casework.trial.models import Trial

log = logging.getLogger(__name__)


def _trials() -> list[Trial]:
    return list(db.session.scalars(select(Trial).order_by(Trial.name)))


def _form(formdata=None) -> ExtractForm:
    """Posted with CSRF for the download; read from the query string (a GET
    that changes nothing) for the preview."""
    form = ExtractForm(formdata, meta={"csrf": False}) if formdata is not None else ExtractForm()
    trials = _trials()
    form.trial.choices = choices((t.id, t.name) for t in trials)
    chosen = next((t for t in trials if str(t.id) == form.trial.data), trials[0] if trials
                  else None)
    form.sites.choices = choices((s.id, s.name) for s in chosen.sites) if chosen else []
    return form


@bp.route("/extracts")
@require(Permission.EXTRACT_EXPORT)
@replica_reads
def extract():
    """Choose an extract and see its k-anonymity before downloading."""
    previewing = "unit" in request.args
    form = _form(request.args if previewing else None)
    if not previewing:
        form.unit.data, form.level.data, form.format.data, form.key.data = (
            "person", "1", "csv", "project")
    chosen = None
    if previewing and form.validate():
        try:
            req = form.request().check()
            # k depends only on the generalised values, not on the pseudonyms
            chosen = services.plan(req, current_app.config["EXTRACT_MIN_K"])
        except services.ExtractError as error:
            show_problems(form, error.problems)
    status = 422 if form.errors or form.form_errors else 200
    return render_template("extracts/extract.html", form=form, plan=chosen,
                           trials=_trials()), status


@bp.route("/extracts/download", methods=["POST"])
@require(Permission.EXTRACT_EXPORT)
def download():
    form = _form()
    if not form.validate_on_submit():
        return render_template("extracts/extract.html", form=form, plan=None,
                               trials=_trials()), 422
    try:
        req = form.request().check()
        key = services.choose_key(req, current_app.config["PSEUDONYM_KEY"])
    except services.ExtractError as error:
        show_problems(form, error.problems)
        return render_template("extracts/extract.html", form=form, plan=None,
                               trials=_trials()), 422
    with from_replica():
        chosen = services.plan(req, current_app.config["EXTRACT_MIN_K"])
    actor_id = current_user.id

    def finished(rows: int, sha256: str, complete: bool) -> None:
        from casework.accounts.models import User

        if not complete:
            # Stopped (its reader gone, or an error): a database error leaves
            # the session's transaction unusable on PostgreSQL, so the event
            # failed (InFailedSqlTransaction), hiding the error (found by
            # review). The request's writes were committed before streaming
            # began; the stream only read, so rolling back loses nothing.
            error = sys.exc_info()[1]
            if isinstance(error, Exception):
                log.error("Extract download stopped after %d rows", rows, exc_info=error)
            db.session.rollback()
        with from_replica(False):  # who downloaded it, as the primary knows them
            services.record_extract(req, key=key, rows_written=rows, sha256=sha256,
                                    complete=complete, actor=db.session.get(User, actor_id),
                                    now=utcnow(), chosen=chosen)
            db.session.commit()

    name = f"cohort-{req.unit}-{utcnow():%Y%m%d-%H%M%S}.{req.format}"
    rows = services.serialise(req, key, on_done=finished, chosen=chosen)
    return Response(stream_with_context(streamed_from_replica(rows)),
                    mimetype=services.FORMATS[req.format],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _trial(*, page: bool = False) -> Trial | None:
    """The trial asked for (``?trial=ID``), or the first by name if none is;
    None if there are none. One asked for that is not there is 404, and
    anything but a number 400 (both were the first trial's figures, 200:
    found by review); plain text for a download, the error page for a page."""
    trials = _trials()
    wanted = request.args.get("trial", "")
    if not wanted:
        return trials[0] if trials else None
    if not (wanted.isascii() and wanted.isdigit()):
        abort(400 if page else Response("trial: give a trial's number", status=400,
                                        mimetype="text/plain"))
    trial = next((t for t in trials if str(t.id) == wanted.lstrip("0")), None)
    if trial is None:
        abort(404 if page else Response(f"No trial {wanted}", status=404,
                                        mimetype="text/plain"))
    return trial


@bp.route("/extracts/aggregates")
@require(Permission.AGGREGATE_READ)
@replica_reads
def aggregates():
    trial = _trial(page=True)
    trials = _trials()
    chooser = TrialChoiceForm(meta={"csrf": False})
    chooser.trial.choices = choices((t.id, t.name) for t in trials)
    chooser.trial.data = str(trial.id) if trial else None
    if trial is None:
        return render_template("extracts/aggregates.html", trial=None, trials=trials,
                               chooser=chooser, tables=[], diagram=None, boxes=[])
    # the flow drawn with the tables' suppression: exact, it gave their cells back
    page = services.aggregates_page(trial)
    # consort.svg escapes every text it draws
    diagram = Markup(consort.svg(page.flow, title=trial.name, shown=page.shown))  # noqa: S704  # nosec B704
    return render_template("extracts/aggregates.html", trial=trial, trials=trials,
                           chooser=chooser, tables=page.tables, diagram=diagram,
                           boxes=consort.boxes(page.flow, page.shown).in_order())


@bp.route("/extracts/consort.svg")
@require(Permission.AGGREGATE_READ)
@replica_reads
def consort_svg():
    trial = _trial()
    if trial is None:
        return Response("No trial is configured", status=404, mimetype="text/plain")
    return _consort(trial, "svg", "image/svg+xml")


@bp.route("/extracts/consort.json")
@require(Permission.AGGREGATE_READ)
@replica_reads
def consort_json():
    trial = _trial()
    if trial is None:
        return Response("No trial is configured", status=404, mimetype="text/plain")
    return _consort(trial, "json", "application/json")


def _consort(trial: Trial, fmt: str, mimetype: str) -> Response:
    body = services.consort_outputs(trial)[fmt]
    services.record_consort_export(trial, {fmt: body}, actor=current_user, now=utcnow())
    return Response(body, mimetype=mimetype)


@bp.route("/extracts/dictionary.<fmt>")
@require(Permission.EXTRACT_EXPORT, Permission.AGGREGATE_READ)
def dictionary(fmt: str):
    if fmt == "csv":
        return Response(services.dictionary_csv(), mimetype="text/csv")
    if fmt == "md":
        return Response(services.dictionary_markdown(), mimetype="text/markdown")
    return Response("Use dictionary.csv or dictionary.md", status=404, mimetype="text/plain")
