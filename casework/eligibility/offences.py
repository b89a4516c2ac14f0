"""The offence catalogue and the Home Office outcome codes, as shipped.

Pure standard library. The database holds the working copy (seeded by
migration 0007, editable by admins); the rules take an ``Offence`` whatever
its source. Gravity scores follow the shape of the NPCC Child Gravity Matrix
and are local configuration, to be reviewed before use (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES: dict[str, str] = {
    "violence": "Violence",
    "weapon": "Weapon",
    "robbery": "Robbery",
    "sexual": "Sexual",
    "acquisitive": "Acquisitive",
    "drugs": "Drugs",
    "public_order": "Public order",
    "other": "Other",
}

# Previous outcomes in these categories are never "very minor" (Checkpoint K4).
SERIOUS_CATEGORIES = frozenset({"violence", "weapon", "sexual", "robbery"})


@dataclass(frozen=True)
class Offence:
    key: str
    title: str
    legislation: str
    category: str
    gravity: int
    outcome22_permitted: bool


def _o(key, title, legislation, category, gravity, permitted=True) -> Offence:
    return Offence(key, title, legislation, category, gravity, permitted)


OFFENCES: tuple[Offence, ...] = (
    _o("common_assault", "Common assault", "Criminal Justice Act 1988 s39", "violence", 2),
    _o("battery", "Battery", "Criminal Justice Act 1988 s39", "violence", 2),
    _o("abh_s47", "Assault occasioning actual bodily harm",
       "Offences Against the Person Act 1861 s47", "violence", 3),
    _o("gbh_s20", "Wounding or inflicting grievous bodily harm",
       "Offences Against the Person Act 1861 s20", "violence", 4),
    _o("gbh_intent_s18", "Wounding or causing grievous bodily harm with intent",
       "Offences Against the Person Act 1861 s18", "violence", 5, False),
    _o("bladed_article_s139", "Possession of a bladed or pointed article in a public place",
       "Criminal Justice Act 1988 s139", "weapon", 3),
    _o("bladed_article_school_s139a", "Possession of a bladed or pointed article on school "
       "premises", "Criminal Justice Act 1988 s139A", "weapon", 4),
    _o("threatening_with_blade_s139aa", "Threatening with a bladed or pointed article",
       "Criminal Justice Act 1988 s139AA", "weapon", 4),
    _o("offensive_weapon_s1", "Possession of an offensive weapon in a public place",
       "Prevention of Crime Act 1953 s1", "weapon", 3),
    _o("threatening_with_offensive_weapon_s1a", "Threatening with an offensive weapon",
       "Prevention of Crime Act 1953 s1A", "weapon", 4),
    _o("robbery", "Robbery", "Theft Act 1968 s8", "robbery", 4, False),
    _o("theft", "Theft", "Theft Act 1968 s1", "acquisitive", 2),
    _o("burglary", "Burglary", "Theft Act 1968 s9", "acquisitive", 3),
    _o("criminal_damage", "Criminal damage", "Criminal Damage Act 1971 s1", "other", 2),
    _o("possession_controlled_drug", "Possession of a controlled drug",
       "Misuse of Drugs Act 1971 s5(2)", "drugs", 2),
    _o("possession_with_intent_to_supply", "Possession with intent to supply",
       "Misuse of Drugs Act 1971 s5(3)", "drugs", 4, False),
    _o("public_order_s4", "Fear or provocation of violence", "Public Order Act 1986 s4",
       "public_order", 2),
    _o("public_order_s4a", "Intentional harassment, alarm or distress",
       "Public Order Act 1986 s4A", "public_order", 3),
    _o("public_order_s5", "Harassment, alarm or distress", "Public Order Act 1986 s5",
       "public_order", 1),
    _o("harassment", "Harassment", "Protection from Harassment Act 1997 s2", "other", 2),
    _o("malicious_communications", "Malicious communications",
       "Malicious Communications Act 1988 s1", "other", 2),
    _o("sexual_assault", "Sexual assault", "Sexual Offences Act 2003 s3", "sexual", 4, False),
)

# Home Office crime outcome codes (the outcomes framework), 1 to 23; 23 is the
# children's deferred prosecution outcome, a configurable closing code.
OUTCOME_CODES: dict[int, str] = {
    1: "Charged or summonsed",
    2: "Caution (youths)",
    3: "Caution (adults)",
    4: "Taken into consideration",
    5: "The offender has died",
    6: "Penalty notice for disorder",
    7: "Cannabis or khat warning",
    8: "Community resolution",
    9: "Prosecution not in the public interest (CPS)",
    10: "Formal action not in the public interest (police)",
    11: "Prosecution prevented: suspect below the age of criminal responsibility",
    12: "Prosecution prevented: suspect too ill to prosecute",
    13: "Prosecution prevented: victim or key witness dead or too ill to give evidence",
    14: "Evidential difficulties: suspect not identified, victim does not support action",
    15: "Evidential difficulties: suspect identified, victim supports action",
    16: "Evidential difficulties: suspect identified, victim does not support action",
    17: "Prosecution time limit expired",
    18: "Investigation complete, no suspect identified",
    19: "National Crime Agency",
    20: "Other body or agency has investigative primacy",
    21: "Further investigation not in the public interest (police)",
    22: "Diversionary, educational or intervention activity",
    23: "Deferred prosecution (children)",
}

# Outcomes that attribute the offence to the person: a criminal history.
# The others (no further action of one kind or another) are not.
HISTORY_OUTCOMES = frozenset({1, 2, 3, 4, 6, 7, 8, 22, 23})
