"""The audit vocabulary: every action casework records, in one place.

Grammar: ``subject:verb``, both lower case with underscores, where the subject
is the kind of thing acted on and the verb is past tense (``referral:created``)
or a fixed noun for events that are not changes (``access:denied``).
"""

from __future__ import annotations

import re
from enum import StrEnum

GRAMMAR = re.compile(r"^[a-z][a-z_]*:[a-z][a-z_]*$")


class Action(StrEnum):
    # authentication
    AUTH_LOGIN = "auth:login"
    AUTH_LOGIN_FAILED = "auth:login_failed"
    AUTH_LOGOUT = "auth:logout"
    AUTH_SESSION_EXPIRED = "auth:session_expired"
    AUTH_THROTTLED = "auth:throttled"
    AUTH_PASSWORD_REHASHED = "auth:password_rehashed"  # noqa: S105
    # access control
    ACCESS_DENIED = "access:denied"
    # user administration
    USER_CREATED = "user:created"
    USER_UPDATED = "user:updated"
    USER_DEACTIVATED = "user:deactivated"
    USER_REACTIVATED = "user:reactivated"
    USER_PASSWORD_SET = "user:password_set"  # noqa: S105 (by an admin or a command)
    USER_PASSWORD_CHANGED = "user:password_changed"  # noqa: S105 (by the user)
    SITE_CREATED = "site:created"
    SITE_UPDATED = "site:updated"
    # people and referrals
    PERSON_CREATED = "person:created"
    PERSON_UPDATED = "person:updated"
    PERSON_VIEWED = "person:viewed"
    # a person of another site shown as a strong duplicate: that they match, and why
    PERSON_MATCH_VIEWED = "person:match_viewed"
    PERSON_LINKED = "person:linked"  # a referral linked to an existing person
    PERSON_CONFIRMED_NEW = "person:confirmed_new"  # candidates shown and set aside
    REFERRAL_CREATED = "referral:created"
    REFERRAL_STATUS_CHANGED = "referral:status_changed"
    REFERRAL_CLOSED = "referral:closed"
    REFERRAL_LISTED = "referral:listed"
    DEMO_SEEDED = "demo:seeded"
    # triage and randomisation
    TRIAGE_RECORDED = "triage:recorded"
    TRIAGE_UPDATED = "triage:updated"
    TRIAGE_DECIDED = "triage:decided"
    TRIAGE_OVERRIDDEN = "triage:overridden"  # a decision against the computed result
    # the C5 exclusions (reference data): added; retitled, or offered or not
    EXCLUSION_CREATED = "exclusion:created"
    EXCLUSION_UPDATED = "exclusion:updated"
    TRIAL_CREATED = "trial:created"
    TRIAL_UPDATED = "trial:updated"
    TRIAL_ALLOCATION_LIST_UPLOADED = "trial:allocation_list_uploaded"
    # a longer list, once people are randomised: every row kept, slots added
    TRIAL_ALLOCATION_LIST_EXTENDED = "trial:allocation_list_extended"
    # a list refused (unreadable, or not extending the list people were randomised
    # from): its SHA-256, row count and reason, never its rows; recorded like a view,
    # so it stands though the upload is rolled back
    TRIAL_ALLOCATION_LIST_REFUSED = "trial:allocation_list_refused"
    TRIAL_SEQUENCE_PRINTED = "trial:sequence_printed"
    # not printed: the key configured is not the one the allocations were made with
    TRIAL_SEQUENCE_REFUSED = "trial:sequence_refused"
    ALLOCATION_CREATED = "allocation:created"
    # a randomisation refused (the trial key changed since its allocations, no
    # key, a list used up), as the page saying so showed it: recorded like a
    # view, so it stands though the decision it refused is rolled back
    ALLOCATION_REFUSED = "allocation:refused"
    ALLOCATION_MARKED_IN_ERROR = "allocation:marked_in_error"
    ALLOCATION_REPORT_VIEWED = "allocation:report_viewed"
    # pathways (treatment arm)
    PATHWAY_PROPOSED = "pathway:proposed"
    PATHWAY_APPROVED = "pathway:approved"
    PATHWAY_REJECTED = "pathway:rejected"
    # a proposal ended, undecided, by a move recorded while it waited (an
    # exit, accepted support): the move's own pathway:changed follows it
    PATHWAY_PROPOSAL_LAPSED = "pathway:proposal_lapsed"
    PATHWAY_CHANGED = "pathway:changed"
    DEVIATION_RECORDED = "deviation:recorded"  # a protocol deviation
    # notes and contacts (bodies never appear in the detail)
    NOTE_CREATED = "note:created"
    NOTE_AMENDED = "note:amended"
    NOTE_VIEWED = "note:viewed"  # restricted notes only
    # caseloads
    CASE_ASSIGNED = "case:assigned"
    CASE_REASSIGNED = "case:reassigned"
    # every export (DESIGN.md: export:created), its kind in the detail
    # ("cohort_extract" or "consort")
    EXPORT_CREATED = "export:created"
    # the names exports were recorded under before export:created: kept, so
    # their stored events (never rewritten: the hash chain) still read and
    # the audit log's filter still finds them
    EXTRACT_EXPORTED = "extract:exported"
    CONSORT_EXPORTED = "consort:exported"
    CASE_REVIEWED = "case:reviewed"
    # Checkpoint and Outcome 22
    OFFENCE_UPDATED = "offence:updated"
    OUTCOME_CODE_UPDATED = "outcome_code:updated"
    ASSESSMENT_RECORDED = "assessment:recorded"
    ASSESSMENT_DECIDED = "assessment:decided"
    DIVERSION_OFFERED = "diversion:offered"
    DIVERSION_STARTED = "diversion:started"
    DIVERSION_COMPLETED = "diversion:completed"
    DIVERSION_FAILED = "diversion:failed"
    DIVERSION_WITHDRAWN = "diversion:withdrawn"
    DIVERSION_OUTCOME_RECORDED = "diversion:outcome_recorded"
    # the audit log itself
    AUDIT_VIEWED = "audit:viewed"
    # views of identifiable pages (DESIGN.md "Audit log"); never search text
    TRIAGE_VIEWED = "triage:viewed"
    TRIAGE_LISTED = "triage:listed"
    NOTE_SEARCHED = "note:searched"
    ASSESSMENT_VIEWED = "assessment:viewed"
    DIVERSION_LISTED = "diversion:listed"
    CASE_LISTED = "case:listed"
    CASELOAD_VIEWED = "caseload:viewed"
    DASHBOARD_VIEWED = "dashboard:viewed"
    PATHWAY_PROPOSAL_VIEWED = "pathway:proposal_viewed"
    PATHWAY_APPROVALS_LISTED = "pathway:approvals_listed"
    DEVIATION_LISTED = "deviation:listed"
    CONTACT_OVERDUE_LISTED = "contact:overdue_listed"


# Refusals a page shows (the triage page saying why no one was randomised, the
# trial's page why a list was not taken): kept, as a page view's event is, though
# the request's work is rolled back
SHOWN_REFUSALS = frozenset({Action.ALLOCATION_REFUSED, Action.TRIAL_ALLOCATION_LIST_REFUSED})


def stands_when_refused(action: Action) -> bool:
    """Whether ``action``'s event is recorded again when the request's work
    is rolled back and its page still sent: what a page showed
    (``shows_a_page``), and the refusals it shows."""
    return shows_a_page(action) or action in SHOWN_REFUSALS


def shows_a_page(action: Action) -> bool:
    """Whether ``action`` records what a page showed (a record viewed, a list
    or search shown) rather than a change: such an event stands even when
    the request's changes are refused, if its page is still sent (a form
    returned with its errors shows the record it is about)."""
    return action.value.partition(":")[2].endswith(("viewed", "listed", "searched"))
