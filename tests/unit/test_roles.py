"""DESIGN.md "Who uses it" as a table: every (role, permission) cell pinned."""

from __future__ import annotations

import pytest

from casework.accounts.roles import ROLE_PERMISSIONS, Permission, Role, can

P = Permission
# Columns: caseworker, lead, evaluator, admin.
MATRIX = {
    P.CASE_READ:             (1, 1, 0, 0),
    P.REFERRAL_CREATE:       (1, 1, 0, 0),
    P.PERSON_EDIT:           (1, 1, 0, 0),
    P.TRIAGE_RECORD:         (1, 1, 0, 0),
    P.NOTE_WRITE:            (1, 1, 0, 0),
    P.PATHWAY_MOVE:          (1, 1, 0, 0),
    P.DIVERSION_ASSESS:      (1, 1, 0, 0),
    P.TRIAGE_DECIDE:         (0, 1, 0, 0),
    P.DISRUPTION_APPROVE:    (0, 1, 0, 0),
    P.PATHWAY_DECIDE:        (0, 1, 0, 0),
    P.CASELOAD_REVIEW:       (0, 1, 0, 0),
    P.CASE_REASSIGN:         (0, 1, 0, 0),
    P.DIVERSION_DECIDE:      (0, 1, 0, 0),
    P.RESTRICTED_NOTE_READ:  (0, 1, 0, 0),
    P.AUDIT_READ_SITES:      (0, 1, 0, 0),
    P.ALLOCATION_REPORT:     (0, 1, 1, 0),
    P.EXTRACT_EXPORT:        (0, 0, 1, 0),
    P.AGGREGATE_READ:        (0, 0, 1, 0),
    P.AUDIT_READ_ALL:        (0, 0, 0, 1),
    P.USER_MANAGE:           (0, 0, 0, 1),
    P.SITE_MANAGE:           (0, 0, 0, 1),
    P.TRIAL_CONFIGURE:       (0, 0, 0, 1),
    P.RULESET_MANAGE:        (0, 0, 0, 1),
    P.KEY_MANAGE:            (0, 0, 0, 1),
}
ROLES = (Role.CASEWORKER, Role.LEAD, Role.EVALUATOR, Role.ADMIN)


def test_matrix_covers_every_permission_and_role():
    assert set(MATRIX) == set(Permission)
    assert set(ROLE_PERMISSIONS) == set(Role)


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [(role, perm, bool(row[i])) for perm, row in MATRIX.items() for i, role in enumerate(ROLES)],
    ids=lambda v: str(v),
)
def test_cell(role, permission, allowed):
    assert can(role, permission) is allowed


def test_evaluators_never_read_identifiable_casework():
    assert not can(Role.EVALUATOR, P.CASE_READ)
    assert not can(Role.ADMIN, P.CASE_READ)  # "no casework by default"
