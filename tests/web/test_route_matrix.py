"""The security matrix: every route, every role, a record inside and
outside the user's sites → the status the table below says.

One row per (endpoint, method) of ``app.url_map``; a route added without a
row fails ``test_every_route_has_a_row``. POSTs here carry a valid CSRF
token and no other fields, so an allowed user meets the form's own
validation (422, or a redirect with a message) and nothing else.

The same walk checks, on every response, the security headers and cookie
flags, that no page shows the name of anyone at the other site,
and that no GET changes the database (the only rows a GET may add
are audit events recording that something was viewed or refused).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from tests.conftest import csrf_token, sign_in
from tests.web.conftest import ROLES, audit_since, fingerprint, last_audit_id, row_counts

CASEWORK = frozenset({"caseworker", "lead"})
LEAD = frozenset({"lead"})
ADMIN = frozenset({"admin"})
EVALUATOR = frozenset({"evaluator"})
EVERYONE = frozenset(ROLES)
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Row:
    path: str  # formatted with World.ids(scope)
    roles: frozenset[str]  # roles allowed; every other signed-in role gets 403
    ok: int = 200  # the status an allowed user gets for a record in scope
    scoped: bool = False  # the path names a record that belongs to a site
    anonymous: int = 302  # sent to sign in
    # (role, scope) -> status, where the usual rule does not give it
    exceptions: dict[tuple[str, str], int] = field(default_factory=dict)

    def expected(self, role: str, scope: str) -> int:
        if (role, scope) in self.exceptions:
            return self.exceptions[(role, scope)]
        if role == ANONYMOUS:
            return self.anonymous
        if role not in self.roles:
            return 403
        if self.scoped and scope == "outside":
            return 404
        return self.ok


GET, POST = "GET", "POST"

TABLE: dict[tuple[str, str], Row] = {
    # public
    ("main.health", GET): Row("/health", EVERYONE, anonymous=200),
    ("main.accessibility", GET): Row("/accessibility", EVERYONE, anonymous=200),
    ("main.session_alive", GET): Row("/session", EVERYONE),
    ("main.session_left", GET): Row("/session/left", EVERYONE),
    ("assets.serve", GET): Row("/assets/govuk-frontend.min.css", EVERYONE, anonymous=200),
    ("auth.login", GET): Row("/sign-in", EVERYONE, ok=302, anonymous=200),
    ("auth.login", POST): Row("/sign-in", EVERYONE, ok=302, anonymous=422),
    ("auth.logout", POST): Row("/sign-out", EVERYONE, ok=302),
    ("auth.change_password", GET): Row("/account/password", EVERYONE),
    ("auth.change_password", POST): Row("/account/password", EVERYONE, ok=422),
    ("main.index", GET): Row("/", EVERYONE),
    ("diversion.rules", GET): Row("/rules", EVERYONE),
    # casework lists
    ("intake.referrals", GET): Row("/referrals", CASEWORK),
    ("intake.new_referral", GET): Row("/referrals/new", CASEWORK),
    ("intake.new_referral", POST): Row("/referrals/new", CASEWORK, ok=422),
    ("caseload.cases", GET): Row("/caseload/cases", CASEWORK),
    ("caseload.mine", GET): Row("/caseload/mine", CASEWORK),
    ("notes.overdue", GET): Row("/contacts/overdue", CASEWORK),
    ("notes.search", GET): Row("/notes/search?q=week", CASEWORK),
    ("diversion.cases", GET): Row("/diversion", CASEWORK),
    # one person's records
    ("intake.person", GET): Row("/people/{person}", CASEWORK, scoped=True),
    ("intake.edit_person", GET): Row("/people/{person}/edit", CASEWORK, scoped=True),
    ("intake.edit_person", POST): Row("/people/{person}/edit", CASEWORK, ok=422, scoped=True),
    ("intake.close_referral", GET): Row("/referrals/{referral}/close", CASEWORK, scoped=True),
    ("intake.close_referral", POST): Row("/referrals/{referral}/close", CASEWORK, ok=422,
                                         scoped=True),
    ("triage.record", GET): Row("/referrals/{referral}/triage", CASEWORK, scoped=True),
    ("triage.record", POST): Row("/referrals/{referral}/triage", CASEWORK, ok=422, scoped=True),
    ("triage.show", GET): Row("/triage/{triage}", CASEWORK, scoped=True),
    ("notes.new", GET): Row("/people/{person}/notes/new", CASEWORK, scoped=True),
    ("notes.new", POST): Row("/people/{person}/notes/new", CASEWORK, ok=422, scoped=True),
    ("notes.show", GET): Row("/notes/{note}", CASEWORK, scoped=True),
    # Only the author (the caseworker) and leads may amend a note.
    ("notes.amend", GET): Row("/notes/{note}/amend", CASEWORK, scoped=True),
    ("notes.amend", POST): Row("/notes/{note}/amend", CASEWORK, ok=422, scoped=True),
    ("pathways.move", GET): Row("/people/{person}/pathway", CASEWORK, scoped=True),
    ("pathways.move", POST): Row("/people/{person}/pathway", CASEWORK, ok=422, scoped=True),
    ("pathways.deviation", GET): Row("/people/{person}/deviation", CASEWORK, scoped=True),
    ("pathways.deviation", POST): Row("/people/{person}/deviation", CASEWORK, ok=422,
                                      scoped=True),
    ("diversion.new", GET): Row("/people/{person}/assessments/new/checkpoint", CASEWORK,
                                scoped=True),
    ("diversion.new", POST): Row("/people/{person}/assessments/new/checkpoint", CASEWORK,
                                 ok=422, scoped=True),
    ("diversion.assessment", GET): Row("/assessments/{assessment}", CASEWORK, scoped=True),
    # The case was offered when the world was built: offering again is refused.
    ("diversion.offer", POST): Row("/assessments/{assessment}/case", CASEWORK, ok=302,
                                   scoped=True),
    ("diversion.step", POST): Row("/diversion/{diversion_case}/step", CASEWORK, ok=422,
                                  scoped=True),
    # lead decisions and oversight
    ("triage.queue", GET): Row("/triage", LEAD),
    ("triage.decide", POST): Row("/triage/{triage}/decision", LEAD, ok=422, scoped=True),
    ("diversion.decide", POST): Row("/assessments/{assessment}/decision", LEAD, ok=422,
                                    scoped=True),
    ("diversion.later_outcome", POST): Row("/diversion/{diversion_case}/later-outcome", LEAD,
                                           ok=422, scoped=True),
    ("pathways.approvals", GET): Row("/pathways/approvals", LEAD),
    ("pathways.proposal", GET): Row("/pathways/proposals/{proposal}", LEAD, scoped=True),
    ("pathways.proposal", POST): Row("/pathways/proposals/{proposal}", LEAD, ok=422,
                                     scoped=True),
    ("pathways.deviations", GET): Row("/pathways/deviations", LEAD),
    ("pathways.summary", GET): Row("/pathways/summary", LEAD),
    ("caseload.dashboard", GET): Row("/dashboard", LEAD),
    ("caseload.caseloads", GET): Row("/caseload", LEAD),
    ("caseload.reassign", POST): Row("/caseload/reassign", LEAD, ok=422),
    ("caseload.review", GET): Row("/people/{person}/reviews/new", LEAD, scoped=True),
    ("caseload.review", POST): Row("/people/{person}/reviews/new", LEAD, ok=422, scoped=True),
    ("audit.events", GET): Row("/audit/", LEAD | ADMIN),
    # anonymised outputs
    ("trial.report", GET): Row("/allocations", LEAD | EVALUATOR),
    ("extracts.extract", GET): Row("/extracts", EVALUATOR),
    ("extracts.download", POST): Row("/extracts/download", EVALUATOR, ok=422),
    ("extracts.aggregates", GET): Row("/extracts/aggregates", EVALUATOR),
    ("extracts.consort_svg", GET): Row("/extracts/consort.svg", EVALUATOR),
    ("extracts.consort_json", GET): Row("/extracts/consort.json", EVALUATOR),
    ("extracts.dictionary", GET): Row("/extracts/dictionary.csv", EVALUATOR),
    # administration
    ("admin.users", GET): Row("/admin/users", ADMIN),
    ("admin.new_user", GET): Row("/admin/users/new", ADMIN),
    ("admin.new_user", POST): Row("/admin/users/new", ADMIN, ok=422),
    ("admin.edit_user", GET): Row("/admin/users/{user}", ADMIN),
    ("admin.edit_user", POST): Row("/admin/users/{user}", ADMIN, ok=422),
    ("admin.set_password", GET): Row("/admin/users/{user}/password", ADMIN),
    ("admin.set_password", POST): Row("/admin/users/{user}/password", ADMIN, ok=422),
    ("admin.deactivate_user", POST): Row("/admin/users/{user}/deactivate", ADMIN, ok=302),
    ("admin.reactivate_user", POST): Row("/admin/users/{user}/reactivate", ADMIN, ok=302),
    ("admin.sites", GET): Row("/admin/sites", ADMIN),
    ("admin.new_site", GET): Row("/admin/sites/new", ADMIN),
    ("admin.new_site", POST): Row("/admin/sites/new", ADMIN, ok=422),
    ("admin.edit_site", GET): Row("/admin/sites/{site}", ADMIN),
    ("admin.edit_site", POST): Row("/admin/sites/{site}", ADMIN, ok=422),
    ("trial.trials", GET): Row("/admin/trials", ADMIN),
    ("trial.new", GET): Row("/admin/trials/new", ADMIN),
    ("trial.new", POST): Row("/admin/trials/new", ADMIN, ok=422),
    ("trial.edit", GET): Row("/admin/trials/{trial}", ADMIN),
    ("trial.edit", POST): Row("/admin/trials/{trial}", ADMIN, ok=422),
    ("trial.upload_list", POST): Row("/admin/trials/{trial}/allocation-list", ADMIN, ok=422),
    ("trial.mark_in_error", POST): Row("/admin/trials/{trial}/in-error", ADMIN, ok=422),
    ("diversion.offences", GET): Row("/admin/offences", ADMIN),
    ("diversion.edit_offence", GET): Row("/admin/offences/{offence}", ADMIN),
    ("diversion.edit_offence", POST): Row("/admin/offences/{offence}", ADMIN, ok=422),
    ("diversion.edit_outcome_code", GET): Row("/admin/outcome-codes/{outcome_code}", ADMIN),
    ("diversion.edit_outcome_code", POST): Row("/admin/outcome-codes/{outcome_code}", ADMIN,
                                               ok=422),
    ("triage.exclusions", GET): Row("/admin/exclusions", ADMIN),
    ("triage.new_exclusion", GET): Row("/admin/exclusions/new", ADMIN),
    ("triage.new_exclusion", POST): Row("/admin/exclusions/new", ADMIN, ok=422),
    ("triage.edit_exclusion", GET): Row("/admin/exclusions/mappa_managed", ADMIN),
    ("triage.edit_exclusion", POST): Row("/admin/exclusions/mappa_managed", ADMIN, ok=422),
}

# Audit events a GET may write: it was viewed, listed, searched, exported
# (a download of aggregate counts) or refused.
READ_ACTION_VERBS = ("viewed", "listed", "searched", "exported", "denied")
# A download by GET (the CONSORT diagram or its counts) is an export, recorded
READ_ACTIONS = ("export:created",)
# Those that record what a page showed.
SHOWN_VERBS = ("viewed", "listed", "searched")


def routes(app) -> set[tuple[str, str]]:
    return {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules() if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_route_has_a_row(app):
    assert routes(app) - set(TABLE) == set(), "add a row to TABLE for each new route"
    assert set(TABLE) - routes(app) == set(), "a row for a route that no longer exists"


def check_headers(response, *, signed_in: bool) -> list[str]:
    """What is missing from a response's security headers and cookies.

    GOV.UK Frontend's own files may be cached; nothing else a signed-in user
    receives may be. Cookies that are only being deleted (Flask-Login
    clearing a remember-me cookie casework never sets) carry no value."""
    problems = []
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    if "default-src 'self'" not in csp or "frame-ancestors 'none'" not in csp \
            or "'unsafe-inline'" in csp:
        problems.append(f"Content-Security-Policy {csp!r}")
    for name, value in (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                        ("Referrer-Policy", "strict-origin")):
        if headers.get(name) != value:
            problems.append(f"{name} {headers.get(name)!r}")
    if signed_in and response.status_code == 200 and headers.get("Cache-Control") != "no-store" \
            and not response.mimetype.startswith(("text/css", "application/javascript",
                                                  "text/javascript")):
        problems.append(f"Cache-Control {headers.get('Cache-Control')!r}")
    for cookie in headers.getlist("Set-Cookie"):
        if "=;" in cookie and "Max-Age=0" in cookie:
            continue
        if "HttpOnly" not in cookie or "SameSite=Lax" not in cookie:
            problems.append(f"cookie {cookie.split('=')[0]} flags")
    return problems


def check_page(response) -> list[str]:
    """What is wrong with an HTML page's own structure: an id used twice; an
    error summary's link to no element (or, for a date, to its wrapper,
    which takes no focus: the link goes to a box); a title that does not
    say the page's heading (GOV.UK's pattern: forms about one person were
    all titled alike, whoever the person); a form sent back with its errors
    (422) with no summary or no "Error: " in its title."""
    body = response.get_data(as_text=True)
    ids = re.findall(r'\sid="([^"]+)"', body)
    problems = [f"id {i!r} used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    summary = body.split('class="govuk-error-summary"', 1)[1].split("</ul>", 1)[0] \
        if 'class="govuk-error-summary"' in body else ""
    targets = re.findall(r'href="#([^"]+)"', summary)
    for target in targets:
        element = re.search(rf'<(\w+)[^>]*\sid="{re.escape(target)}"[^>]*>', body)
        if element is None or "govuk-date-input\"" in element.group(0):
            problems.append(f"the error summary links to #{target}, which takes no focus")
    # in the page's order (WCAG's meaningful sequence: a summary listing Source
    # before the Site above it was found by an accessibility review)
    where = [body.find(f' id="{target}"') for target in targets]
    if where != sorted(where):
        problems.append(f"the error summary is not in the page's order: {targets}")
    title = re.search(r"<title>(.*?)</title>", body, re.S)
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", body, re.S)
    if title and heading:
        said = " ".join(re.sub(r"<[^>]+>", " ", heading.group(1)).split())
        said = re.sub(r" (to|for) casework$", "", said)  # "Sign in to casework": "Sign in"
        if said not in " ".join(title.group(1).split()):
            problems.append(f"the title {title.group(1)!r} does not say the heading {said!r}")
    if response.status_code == 422 and not (summary and "<title>Error: " in body):
        problems.append("sent back with errors (422) but no error summary and title")
    return problems


def walk(app, world, role: str) -> list[str]:
    """Every row for ``role`` in both scopes; what differs from the table."""
    client = app.test_client()
    if role != ANONYMOUS:
        assert sign_in(client, world.users[role].email).status_code == 302
    token = csrf_token(client)
    outside_names, inside_names = world.sites["outside"].names, world.sites["inside"].names
    inside_seen: set[str] = set()
    mismatches = []
    gets_start = fingerprint()
    # GETs first: the POSTs may change records later rows rely on.
    for (endpoint, method), row in sorted(TABLE.items(), key=lambda item: item[0][1]):
        for scope in ("inside", "outside") if row.scoped else ("inside",):
            path = row.path.format(**world.ids(scope))
            where = f"{role} {method} {path} ({scope}, {endpoint})"
            last = last_audit_id()
            if method == GET:
                before = row_counts()
                response = client.get(path)
                if row_counts() != before:
                    mismatches.append(f"{where}: the GET added or deleted rows")
                written = [a for a in audit_since(last)
                           if not a.split(":")[1].endswith(READ_ACTION_VERBS)
                           and a not in READ_ACTIONS]
                if written:
                    mismatches.append(f"{where}: the GET wrote audit events {written}")
            else:
                if gets_start is not None:  # the last GET: did any of them change a row?
                    changed = {t for t, d in fingerprint().items() if gets_start[t] != d}
                    if changed:
                        mismatches.append(f"{role}: the GETs changed rows of {sorted(changed)}")
                    gets_start = None
                response = client.post(path, data={"csrf_token": token})
            expected = row.expected(role, scope)
            if response.status_code != expected:
                mismatches.append(f"{where}: {response.status_code}, expected {expected}")
            if role == ANONYMOUS and response.status_code == 302 \
                    and not response.headers["Location"].startswith("/sign-in"):
                mismatches.append(f"{where}: redirected to {response.headers['Location']}")
            mismatches += [f"{where}: {problem}" for problem in
                           check_headers(response, signed_in=role != ANONYMOUS)]
            if response.mimetype == "text/html":
                mismatches += [f"{where}: {problem}" for problem in check_page(response)]
            if role != ANONYMOUS and response.mimetype in ("text/html", "text/csv",
                                                            "application/json"):
                body = response.get_data(as_text=True)
                shown = [name for name in outside_names
                         if re.search(rf"\b{re.escape(name)}\b", body)]
                if shown:
                    mismatches.append(f"{where}: shows {shown} from another site")
                shows = [name for name in inside_names if name in body]
                inside_seen.update(shows)
                # DESIGN.md: every view of an identifiable page is an event,
                # a form sent back with its errors (422) included
                if shows and not any(a.split(":")[1].endswith(SHOWN_VERBS)
                                     for a in audit_since(last)):
                    mismatches.append(f"{where}: shows {shows} and recorded no view")
            response.close()
            if endpoint == "auth.logout" and role != ANONYMOUS:
                sign_in(client, world.users[role].email)
                token = csrf_token(client)
    if role in CASEWORK and inside_seen != set(inside_names):  # the name check can see names
        mismatches.append(f"{role}: never saw {set(inside_names) - inside_seen} of their site")
    return mismatches


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_route_matrix(app, world, role):
    mismatches = walk(app, world, role)
    assert mismatches == [], "\n".join(mismatches)
