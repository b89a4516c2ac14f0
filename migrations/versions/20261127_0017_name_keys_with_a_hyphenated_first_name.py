"""people's name keys recomputed: a hyphen ends a first name's first part

A first name was keyed by its first word, so "Mary Jane" gave "mary" and
"Mary-Jane" one word, "maryjane": the duplicate check never offered one for
the other. A hyphen (any dash) now ends the first part as a space does, and
both give "mary" (casework/intake/matching.py). Keys are also cut to the
columns' 100 characters: normalising lengthens a name ("ß" gives "ss"), and
SQLite kept the longer key PostgreSQL refused.

Every person's keys are worked out again, a batch of people at a time (by
id), and only those that differ are written. The rules are copied here as
they stand on the day of this migration, so that a later change to them
does not change what this migration did; the downgrade puts back the first
word's key.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 09:00:00
"""
import re
import unicodedata

import sqlalchemy as sa
from alembic import op


revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BATCH = 2000
KEY_LENGTH = 100

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


def normalise_name(name):
    decomposed = unicodedata.normalize("NFKD", name or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]", "", plain.casefold())[:KEY_LENGTH]


def first_part(name, *, at_dashes):
    if at_dashes:
        name = "".join(" " if unicodedata.category(ch) == "Pd" else ch for ch in name or "")
    parts = (name or "").split()
    return parts[0] if parts else ""


def first_name_key(name, *, at_dashes):
    key = normalise_name(first_part(name, at_dashes=at_dashes))
    return NICKNAMES.get(key, key)


def _recompute(*, at_dashes):
    """Each batch of people by id; the changed keys written in one statement."""
    bind = op.get_bind()
    update = (people.update().where(people.c.id == sa.bindparam("person_id"))
              .values(first_name_key=sa.bindparam("first"), last_name_key=sa.bindparam("last")))
    after = 0
    while True:
        rows = bind.execute(
            sa.select(people.c.id, people.c.first_name, people.c.last_name,
                      people.c.first_name_key, people.c.last_name_key)
            .where(people.c.id > after).order_by(people.c.id).limit(BATCH)).all()
        if not rows:
            return
        changed = []
        for person_id, first, last, first_key, last_key in rows:
            keys = (first_name_key(first, at_dashes=at_dashes), normalise_name(last))
            if keys != (first_key, last_key):
                changed.append({"person_id": person_id, "first": keys[0], "last": keys[1]})
        if changed:
            bind.execute(update, changed)
        after = rows[-1][0]


def upgrade():
    _recompute(at_dashes=True)


def downgrade():
    _recompute(at_dashes=False)
