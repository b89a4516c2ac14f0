"""Roles and what each may do: DESIGN.md "Who uses it" as data.

Pure standard library. Every permission check in casework goes through
``ROLE_PERMISSIONS``; a test pins every cell of this matrix.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CASEWORKER = "caseworker"
    LEAD = "lead"
    EVALUATOR = "evaluator"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Permission(StrEnum):
    # identifiable casework, always within the user's sites
    CASE_READ = "case:read"
    REFERRAL_CREATE = "referral:create"
    PERSON_EDIT = "person:edit"
    TRIAGE_RECORD = "triage:record"
    NOTE_WRITE = "note:write"
    PATHWAY_MOVE = "pathway:move"
    DIVERSION_ASSESS = "diversion:assess"
    # lead decisions and oversight
    TRIAGE_DECIDE = "triage:decide"
    DISRUPTION_APPROVE = "disruption:approve"
    PATHWAY_DECIDE = "pathway:decide"  # lead-only moves: out of disruption, reopening
    CASELOAD_REVIEW = "caseload:review"
    CASE_REASSIGN = "case:reassign"
    DIVERSION_DECIDE = "diversion:decide"
    RESTRICTED_NOTE_READ = "note:read_restricted"
    AUDIT_READ_SITES = "audit:read_sites"
    # anonymised outputs
    ALLOCATION_REPORT = "allocation:report"
    EXTRACT_EXPORT = "extract:export"
    AGGREGATE_READ = "aggregate:read"
    # administration
    AUDIT_READ_ALL = "audit:read_all"
    USER_MANAGE = "user:manage"
    SITE_MANAGE = "site:manage"
    TRIAL_CONFIGURE = "trial:configure"
    RULESET_MANAGE = "ruleset:manage"
    KEY_MANAGE = "key:manage"


_CASEWORK = frozenset({
    Permission.CASE_READ,
    Permission.REFERRAL_CREATE,
    Permission.PERSON_EDIT,
    Permission.TRIAGE_RECORD,
    Permission.NOTE_WRITE,
    Permission.PATHWAY_MOVE,
    Permission.DIVERSION_ASSESS,
})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CASEWORKER: _CASEWORK,
    # Leads supervise casework, so they can do it too, plus the decisions.
    Role.LEAD: _CASEWORK | {
        Permission.TRIAGE_DECIDE,
        Permission.DISRUPTION_APPROVE,
        Permission.PATHWAY_DECIDE,
        Permission.CASELOAD_REVIEW,
        Permission.CASE_REASSIGN,
        Permission.DIVERSION_DECIDE,
        Permission.RESTRICTED_NOTE_READ,
        Permission.AUDIT_READ_SITES,
        Permission.ALLOCATION_REPORT,
    },
    # Evaluators never see a name, a date of birth, an address or free text.
    Role.EVALUATOR: frozenset({
        Permission.ALLOCATION_REPORT,
        Permission.EXTRACT_EXPORT,
        Permission.AGGREGATE_READ,
    }),
    # Administrators run the system and do no casework by default.
    Role.ADMIN: frozenset({
        Permission.AUDIT_READ_ALL,
        Permission.USER_MANAGE,
        Permission.SITE_MANAGE,
        Permission.TRIAL_CONFIGURE,
        Permission.RULESET_MANAGE,
        Permission.KEY_MANAGE,
    }),
}

# Roles whose work is bounded by their assigned sites.
SITE_SCOPED_ROLES = frozenset({Role.CASEWORKER, Role.LEAD})


def can(role: Role | str, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission``."""
    return Permission(permission) in ROLE_PERMISSIONS[Role(role)]
