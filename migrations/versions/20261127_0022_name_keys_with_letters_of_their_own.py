"""people's name keys recomputed: a letter of its own written as plain letters

Name keys dropped the Latin letters that Unicode does not see as a letter
with an accent ("ł", "ø", "đ", dotless i, "æ", "œ", "ð", "þ", ...): decomposing
them left nothing to keep, so "Łukasz" was keyed "ukasz" and "Søren"
"sren", and the same person typed "Lukasz" or "Soren" was no candidate of
the duplicate check, nor found by a search. Each is now written as plain
letters ("l", "o", "d", "i", "ae", "oe", "d", "th", ...;
casework/intake/matching.py).

Only people with such a letter in their names are read (a batch at a time,
by id), and only the keys that differ are written. The rules are copied
here as they stand on the day of this migration, so that a later change to
them does not change what this migration did; the downgrade keys the same
people as before, the letters dropped.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-27 12:00:00
"""
import re
import unicodedata

import sqlalchemy as sa
from alembic import op


revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

BATCH = 2000
KEY_LENGTH = 100

LETTERS_APART = {
    "ł": "l", "ø": "o", "đ": "d", "\u0131": "i", "æ": "ae", "œ": "oe", "ð": "d", "þ": "th",
    "ħ": "h", "ŧ": "t", "ŋ": "ng", "ĸ": "k", "ƒ": "f",
}
# each as it may be written in a name, capital or not (the dotless i and "ĸ" have no
# capital of their own: a dotless i capitalised is "I")
WRITTEN = "łŁøØđĐ\u0131æÆœŒðÐþÞħĦŧŦŋŊĸƒƑ"
# and the letters written as one of them with a mark, which decomposing
# gives back ("Ǿ" is "Ø" and an acute, "ℏ" is "ħ"): their names were keyed
# without them too (found by review). Every such letter of Unicode 15
SELECTED = WRITTEN + "ǢǣǼǽǾǿᴭᵑᶞℏꟸꟹ\U00010783\U00010795\U000107a2\U0001d6a4"

_NICKNAME_GROUPS = {
    "alexander": "alex alec alexandra sandy xander",
    "andrew": "andy drew",
    "anthony": "tony antony",
    "benjamin": "ben benny benji",
    "charles": "charlie chuck chaz",
    "christopher": "chris kit",
    "daniel": "dan danny",
    "david": "dave davey",
    "edward": "ed eddie ted teddy",
    "elizabeth": "liz lizzie beth betty eliza libby",
    "francis": "frank frankie",
    "henry": "harry hal",
    "jacob": "jake",
    "james": "jim jimmy jamie",
    "jennifer": "jen jenny",
    "john": "johnny jack jon",
    "jonathan": "jonny",
    "joseph": "joe joey",
    "joshua": "josh",
    "katherine": "kate katie kath kathy catherine kathryn cathy",
    "kenneth": "ken kenny",
    "lawrence": "larry laurence",
    "margaret": "maggie meg peggy",
    "matthew": "matt matty",
    "michael": "mike mick mickey",
    "mohammed": "mohammad mohamed muhammad muhammed mohamad mo",
    "nathaniel": "nathan nate",
    "nicholas": "nick nicky",
    "patrick": "pat paddy",
    "peter": "pete",
    "rebecca": "becky becca",
    "richard": "rich rick ricky dick",
    "robert": "rob robbie bob bobby bert",
    "ronald": "ron ronnie",
    "samuel": "sam sammy",
    "stephen": "steve steven stevie",
    "thomas": "tom tommy",
    "timothy": "tim timmy",
    "victoria": "vicky vikki tori",
    "william": "will bill billy liam willie",
    "zachary": "zach zack",
}
NICKNAMES = {variant: canonical for canonical, variants in _NICKNAME_GROUPS.items()
             for variant in variants.split()}

people = sa.table("people", sa.column("id", sa.Integer), sa.column("first_name", sa.String),
                  sa.column("last_name", sa.String), sa.column("first_name_key", sa.String),
                  sa.column("last_name_key", sa.String))


def normalise_name(name, *, apart):
    decomposed = unicodedata.normalize("NFKD", name or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    if apart:
        plain = plain.translate(str.maketrans(LETTERS_APART))
    return re.sub(r"[^a-z0-9]", "", plain)[:KEY_LENGTH]


def first_name_key(name, *, apart):
    spaced = "".join(" " if unicodedata.category(ch) == "Pd" else ch for ch in name or "")
    parts = spaced.split()
    key = normalise_name(parts[0] if parts else "", apart=apart)
    return NICKNAMES.get(key, key)


def _recompute(*, apart):
    """Each batch of the people with such a letter in a name, by id; the
    changed keys written in one statement."""
    bind = op.get_bind()
    update = (people.update().where(people.c.id == sa.bindparam("person_id"))
              .values(first_name_key=sa.bindparam("first"), last_name_key=sa.bindparam("last")))
    with_letter = sa.or_(*(column.contains(letter, autoescape=True)
                           for column in (people.c.first_name, people.c.last_name)
                           for letter in SELECTED))
    after = 0
    while True:
        rows = bind.execute(
            sa.select(people.c.id, people.c.first_name, people.c.last_name,
                      people.c.first_name_key, people.c.last_name_key)
            .where(people.c.id > after, with_letter).order_by(people.c.id).limit(BATCH)).all()
        if not rows:
            return
        changed = []
        for person_id, first, last, first_key, last_key in rows:
            keys = (first_name_key(first, apart=apart), normalise_name(last, apart=apart))
            if keys != (first_key, last_key):
                changed.append({"person_id": person_id, "first": keys[0], "last": keys[1]})
        if changed:
            bind.execute(update, changed)
        after = rows[-1][0]


def upgrade():
    _recompute(apart=True)


def downgrade():
    _recompute(apart=False)
