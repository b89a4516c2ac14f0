"""The duplicate check and the name keys it reads, on a real database
(SQLite, and PostgreSQL when TEST_DATABASE_URL is set)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from casework.accounts.services import sites_by_keys
from casework.extensions import db
from casework.intake import matching, services
from casework.intake.models import Person

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def details(first="Jordan", last="Smith", dob=date(2008, 5, 4), pnc=None, la="coventry"):
    return services.PersonDetails(first, last, dob, "male", "white_british", la,
                                  pnc_reference=pnc)


def refer(actor, site, person=None, *, link=None, confirmed=True, when=date(2026, 11, 1)):
    """A referral at ``site`` recorded by ``actor``: linked to ``link`` (a
    person id), or a new person if ``confirmed``, or PossibleDuplicates."""
    site_id = sites_by_keys([site])[0].id
    return services.record_referral(
        person or details(), services.ReferralDetails(site_id, when, "police", "PC X", "Reason"),
        existing_person_id=link, new_person_confirmed=confirmed, actor=actor, now=NOW)


def test_a_name_that_lengthens_when_normalised_is_stored_and_found(make_user):
    """Sixty "ß" are a name the form takes (100 characters at most), but
    normalised they are 120 "s": the key is cut to the column's 100, which
    PostgreSQL would otherwise refuse (a 500 on the form), and a search by
    the name, cut alike, still finds them."""
    worker = make_user("caseworker", ("coventry",))
    long_name = "ß" * 60
    referral = refer(worker, "coventry", details(first="ﬃ" * 40, last=long_name))
    db.session.commit()
    person = db.session.get(Person, referral.person_id)
    assert person.last_name_key == "s" * matching.KEY_LENGTH
    assert person.first_name_key == ("ffi" * 40)[:matching.KEY_LENGTH]
    found = services.search_referrals(services.ReferralQuery(text=long_name), actor=worker)
    assert [r.id for r in found.referrals] == [referral.id]
    # and the duplicate check finds them by the same keys
    again = services.find_candidates(details(first="ﬃ" * 40, last=long_name), actor=worker)
    assert [c.person.id for c in again] == [person.id]
