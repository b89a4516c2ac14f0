"""Referral reference data and the referral status workflow.

Pure standard library: the lists DESIGN.md "Referral intake" names, and the
one transition table that is the only way a referral's status changes.
"""

from __future__ import annotations

from enum import StrEnum

# Referral sources (DESIGN.md "Referral intake").
SOURCES: dict[str, str] = {
    "police": "Police",
    "custody_navigator": "Custody navigator",
    "hospital_navigator": "Hospital A&E navigator",
    "school": "School",
    "youth_offending_service": "Youth offending service",
    "childrens_social_care": "Children's social care",
    "probation": "Probation",
    "community_or_self": "Community or self-referral",
    "other": "Other",
}

RISK_INDICATORS: dict[str, str] = {
    "group_violence": "Involvement in group violence",
    "weapon_carrying": "Weapon carrying",
    "victim_of_violence": "Victim of violence",
    "criminal_exploitation": "Criminal exploitation or county lines",
    "recent_arrest_violence": "Recent arrest for violence",
    "school_exclusion": "School exclusion",
    "missing_episodes": "Missing episodes",
}

GENDERS: dict[str, str] = {
    "female": "Female",
    "male": "Male",
    "non_binary": "Non-binary",
    "other": "Other",
    "not_known": "Not known",
}

# ONS 2021 Census ethnic groups for England and Wales: 19 categories in five
# top-level groups, plus "not stated".
ETHNIC_GROUPS: dict[str, str] = {
    "asian": "Asian, Asian British or Asian Welsh",
    "black": "Black, Black British, Black Welsh, Caribbean or African",
    "mixed": "Mixed or Multiple ethnic groups",
    "white": "White",
    "other": "Other ethnic group",
    "not_stated": "Not stated",
}

ETHNICITIES: dict[str, tuple[str, str]] = {
    "asian_bangladeshi": ("asian", "Bangladeshi"),
    "asian_chinese": ("asian", "Chinese"),
    "asian_indian": ("asian", "Indian"),
    "asian_pakistani": ("asian", "Pakistani"),
    "asian_other": ("asian", "Any other Asian background"),
    "black_african": ("black", "African"),
    "black_caribbean": ("black", "Caribbean"),
    "black_other": ("black", "Any other Black, Black British or Caribbean background"),
    "mixed_white_asian": ("mixed", "White and Asian"),
    "mixed_white_black_african": ("mixed", "White and Black African"),
    "mixed_white_black_caribbean": ("mixed", "White and Black Caribbean"),
    "mixed_other": ("mixed", "Any other Mixed or Multiple ethnic background"),
    "white_british": ("white", "English, Welsh, Scottish, Northern Irish or British"),
    "white_irish": ("white", "Irish"),
    "white_gypsy_traveller": ("white", "Gypsy or Irish Traveller"),
    "white_roma": ("white", "Roma"),
    "white_other": ("white", "Any other White background"),
    "other_arab": ("other", "Arab"),
    "other_any": ("other", "Any other ethnic group"),
    "not_stated": ("not_stated", "Prefer not to say or not known"),
}


def ethnicity_label(code: str) -> str:
    group, label = ETHNICITIES[code]
    return label if group == "not_stated" else f"{ETHNIC_GROUPS[group]}: {label}"


# Where the person lives: one of the seven local authorities or elsewhere.
LOCAL_AUTHORITIES: dict[str, str] = {
    "birmingham": "Birmingham",
    "coventry": "Coventry",
    "dudley": "Dudley",
    "sandwell": "Sandwell",
    "solihull": "Solihull",
    "walsall": "Walsall",
    "wolverhampton": "Wolverhampton",
    "outside_west_midlands": "Outside the West Midlands",
}

CLOSE_REASONS: dict[str, str] = {
    "duplicate": "Duplicate referral",
    "withdrawn": "Withdrawn by the referrer",
    "declined_consent": "Person or family declined",
    "moved_away": "Moved out of the area",
    "not_appropriate": "Not appropriate for the programme",
    "triage_complete": "Triage complete, no further action",
    "other": "Other",
}


class ReferralStatus(StrEnum):
    RECEIVED = "received"
    IN_TRIAGE = "in_triage"
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


# received → in triage → eligible or ineligible → closed; any open referral
# can be closed with a reason (withdrawn, duplicate, moved away).
TRANSITIONS: dict[ReferralStatus, frozenset[ReferralStatus]] = {
    ReferralStatus.RECEIVED: frozenset({ReferralStatus.IN_TRIAGE, ReferralStatus.CLOSED}),
    ReferralStatus.IN_TRIAGE: frozenset({
        ReferralStatus.ELIGIBLE, ReferralStatus.INELIGIBLE, ReferralStatus.CLOSED,
    }),
    ReferralStatus.ELIGIBLE: frozenset({ReferralStatus.CLOSED}),
    ReferralStatus.INELIGIBLE: frozenset({ReferralStatus.CLOSED}),
    ReferralStatus.CLOSED: frozenset(),
}


class InvalidTransition(Exception):
    """A status change the workflow does not allow."""

    def __init__(self, current: ReferralStatus, target: ReferralStatus):
        self.current, self.target = current, target
        super().__init__(
            f"A referral that is {current.label.lower()} cannot become {target.label.lower()}"
        )


def transition(current: ReferralStatus, target: ReferralStatus) -> ReferralStatus:
    """Return ``target`` if the workflow allows it from ``current``."""
    current, target = ReferralStatus(current), ReferralStatus(target)
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(current, target)
    return target
