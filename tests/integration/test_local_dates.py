"""'Today' and the day a moment fell on are England's, not UTC's: from
midnight to 01:00 in British Summer Time UTC's date is still yesterday's,
so a date entered as today was refused as in the future, and a person
randomised then was put on a pathway from the day before."""

from __future__ import annotations

from datetime import UTC, date, datetime

from casework.extensions import db
from casework.intake import services as intake
from casework.notes import services as notes
from casework.notes.services import NoteContent
from casework.pathways import services as pathways
from casework.pathways.models import PathwayEpisode
from casework.pathways.services import MoveRequest

# 00:30 on 15 July 2026 in England (BST, UTC+1)
JUST_AFTER_MIDNIGHT = datetime(2026, 7, 14, 23, 30, tzinfo=UTC)


def test_a_contact_dated_today_just_after_midnight_is_not_in_the_future(randomised,
                                                                         make_user):
    person = randomised("treatment")
    worker = make_user("caseworker", ("coventry",), email="late@example.org")
    note = notes.add_note(person, "contact",
                          NoteContent("Met late.", date(2026, 7, 15), "phone", True),
                          restricted=False, actor=worker, now=JUST_AFTER_MIDNIGHT)
    assert note.contact_date == date(2026, 7, 15)


def test_a_move_dated_today_just_after_midnight_is_not_in_the_future(randomised, make_user):
    person = randomised("treatment")
    worker = make_user("caseworker", ("coventry",), email="late@example.org")
    pathways.move(person, MoveRequest("at_risk_monitoring", date(2026, 7, 15)), actor=worker,
                  now=JUST_AFTER_MIDNIGHT)
    db.session.commit()


def test_a_referral_dated_today_just_after_midnight_is_not_in_the_future(make_user):
    from casework.accounts.services import sites_by_keys

    worker = make_user("caseworker", ("coventry",), email="late@example.org")
    site = sites_by_keys(["coventry"])[0]
    referral = intake.record_referral(
        intake.PersonDetails("Late", "Referral", date(2009, 1, 1), "male", "white_british",
                             "coventry"),
        intake.ReferralDetails(site.id, date(2026, 7, 15), "police", "PC Referrer", "Reason"),
        existing_person_id=None, actor=worker, now=JUST_AFTER_MIDNIGHT,
        new_person_confirmed=True)
    assert referral.referral_date == date(2026, 7, 15)


def test_a_person_randomised_just_after_midnight_awaits_an_offer_from_that_day(randomised):
    person = randomised("treatment", on=JUST_AFTER_MIDNIGHT)
    episode = db.session.query(PathwayEpisode).filter_by(person_id=person.id).one()
    assert episode.effective_date == date(2026, 7, 15)


def test_the_record_dates_a_moment_by_englands_day(randomised, make_user):
    """The timeline read a timestamp's day in SQL, as UTC's: the allocation
    of 00:30 on 15 July showed as 14 July, beside its pathway's 15 July."""
    from casework.notes.timeline import person_timeline

    person = randomised("treatment", on=JUST_AFTER_MIDNIGHT)
    lead = make_user("lead", ("coventry",), email="reader@example.org")
    days = {item.kind: item.on for item in person_timeline(person.id, actor=lead).items}
    assert days["allocation"] == days["pathway"] == days["triage_decided"] == date(2026, 7, 15)
