"""The service navigation: one list, filtered by what the user's role may do.

Each feature adds its entry here when its pages exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from casework.accounts.roles import Permission


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    permissions: frozenset[Permission]
    description: str

    def visible_to(self, user) -> bool:
        return any(user.can(p) for p in self.permissions)


NAVIGATION: tuple[NavItem, ...] = (
    NavItem(
        "Dashboard", "caseload.dashboard", frozenset({Permission.CASELOAD_REVIEW}),
        "Your sites at a glance: what needs attention, arms and pathways, referrals per week.",
    ),
    NavItem(
        "Referrals", "intake.referrals", frozenset({Permission.CASE_READ}),
        "Record a referral, find people and referrals at your sites.",
    ),
    NavItem(
        "My caseload", "caseload.mine", frozenset({Permission.NOTE_WRITE}),
        "Your own cases: pathways, overdue contacts, reviews due.",
    ),
    NavItem(
        "Caseloads", "caseload.caseloads", frozenset({Permission.CASELOAD_REVIEW}),
        "Each caseworker's cases, overdue contacts and last contact; reassign cases.",
    ),
    NavItem(
        "Notes", "notes.search", frozenset({Permission.CASE_READ}),
        "Search the notes and contacts on your sites' cases.",
    ),
    NavItem(
        "Overdue contacts", "notes.overdue", frozenset({Permission.CASE_READ}),
        "Treated people who have gone too long without an attended contact.",
    ),
    NavItem(
        "Diversion", "diversion.cases", frozenset({Permission.CASE_READ}),
        "Checkpoint and Outcome 22 diversion cases: offered, active, overdue, closed.",
    ),
    NavItem(
        "Triage queue", "triage.queue", frozenset({Permission.TRIAGE_DECIDE}),
        "Decide CIRV eligibility, oldest first; an eligible decision randomises.",
    ),
    NavItem(
        "Approvals", "pathways.approvals", frozenset({Permission.DISRUPTION_APPROVE}),
        "Proposals to move treated people into disruption, waiting for a lead.",
    ),
    NavItem(
        "Pathways", "pathways.summary", frozenset({Permission.CASELOAD_REVIEW}),
        "Treated people by pathway and site, moves between pathways, protocol deviations.",
    ),
    NavItem(
        "Allocations", "trial.report", frozenset({Permission.ALLOCATION_REPORT}),
        "Trial allocations by stratum and arm, the balance, and the latest allocations.",
    ),
    NavItem(
        "Extracts", "extracts.extract", frozenset({Permission.EXTRACT_EXPORT}),
        "Anonymised cohort extracts with their k-anonymity, and the data dictionary.",
    ),
    NavItem(
        "Aggregates", "extracts.aggregates", frozenset({Permission.AGGREGATE_READ}),
        "Suppressed aggregate tables and the trial's CONSORT flow diagram.",
    ),
    NavItem(
        "Trials", "trial.trials", frozenset({Permission.TRIAL_CONFIGURE}),
        "Configure trials: sites, strata, ratio, method; mark allocations made in error.",
    ),
    NavItem(
        "Offences", "diversion.offences", frozenset({Permission.RULESET_MANAGE}),
        "The offence catalogue and outcome codes the diversion rules use.",
    ),
    NavItem(
        "Exclusions", "triage.exclusions", frozenset({Permission.RULESET_MANAGE}),
        "The exclusions a CIRV triage may record (C5): add one, retitle, stop offering.",
    ),
    NavItem(
        "Rules", "diversion.rules",
        frozenset({Permission.CASE_READ, Permission.RULESET_MANAGE, Permission.AGGREGATE_READ}),
        "The eligibility rules for CIRV, Checkpoint and Outcome 22, as the service applies them.",
    ),
    NavItem(
        "Users", "admin.users", frozenset({Permission.USER_MANAGE}),
        "Add users, change their role and sites, deactivate accounts.",
    ),
    NavItem(
        "Sites", "admin.sites", frozenset({Permission.SITE_MANAGE}),
        "Add the sites (youth offending services' areas) users work at, and rename them.",
    ),
    NavItem(
        "Audit log", "audit.events",
        frozenset({Permission.AUDIT_READ_ALL, Permission.AUDIT_READ_SITES}),
        "Who did what, when: every change, view, export and sign-in.",
    ),
)


def items_for(user) -> list[NavItem]:
    if not getattr(user, "is_authenticated", False):
        return []
    return [item for item in NAVIGATION if item.visible_to(user)]
