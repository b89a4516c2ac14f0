"""The duplicate check, the name keys it reads, and a date of birth against
the referral dates, on a real database (SQLite, and PostgreSQL when
TEST_DATABASE_URL is set)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from casework.accounts.services import sites_by_keys
from casework.extensions import db
from casework.intake import matching, services
from casework.intake.models import Person
from tests.conftest import load_migration, run_migration_step

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


def test_a_hyphenated_first_name_is_offered_for_the_spaced_one(make_user):
    """"Mary-Jane" was keyed "maryjane" and "Mary Jane" "mary": a person
    recorded one way was never a candidate for the other."""
    worker = make_user("caseworker", ("coventry",))
    for first, other in (("Mary-Jane", "Mary Jane"), ("Jean Luc", "Jean-Luc"),
                         ("Bobby-Joe", "Robert")):
        held = refer(worker, "coventry", details(first=first, last="Okafor"))
        db.session.commit()
        found = services.find_candidates(details(first=other, last="Okafor"), actor=worker)
        assert [c.person.id for c in found] == [held.person_id], (first, other)
        assert "Same date of birth" in found[0].reasons
        db.session.get(Person, held.person_id).last_name_key = "someone else now"
        db.session.commit()


def _held_keyed(people) -> None:
    """People (first name, last name, first key, last key) stored with the
    keys given, as a migration finds them."""
    coventry = sites_by_keys(["coventry"])[0]
    db.session.execute(Person.__table__.insert(), [
        {"site_id": coventry.id, "first_name": first, "last_name": last, "first_name_key": fk,
         "last_name_key": lk, "date_of_birth": date(2009, 4, 2), "gender": "female",
         "ethnicity": "white_british", "local_authority": "coventry", "created_at": NOW}
        for first, last, fk, lk in people])
    db.session.commit()


def keys() -> dict:
    """Each person's stored keys, by first name."""
    return {first: (fk, lk) for first, fk, lk in db.session.execute(
        select(Person.first_name, Person.first_name_key, Person.last_name_key))}


def test_migration_0017_works_out_every_persons_keys_again(app, monkeypatch, is_postgres):
    """People keyed before it (a hyphenated first name as one word, a key
    longer than the column on SQLite) are keyed as they would be now, a
    batch at a time; the downgrade puts the first word's key back."""
    old = [("Mary-Jane", "Smith", "maryjane", "smith"), ("Jean-Luc", "Picard", "jeanluc", "picard"),
           ("Bob", "O'Brien", "robert", "obrien"), ("Zoë", "Ng", "zoe", "ng")]
    if not is_postgres:  # PostgreSQL never held a key longer than its column
        old.append(("Kai", "ß" * 60, "kai", "s" * 120))
    _held_keyed(old)
    migration = load_migration("0017")
    monkeypatch.setattr(migration, "BATCH", 2)

    run_migration_step(migration.upgrade)
    assert keys() == {first: (matching.first_name_key(first), matching.last_name_key(last))
                      for first, last, *_ in old}
    assert keys()["Mary-Jane"] == ("mary", "smith") and keys()["Jean-Luc"][0] == "jean"
    if not is_postgres:
        assert keys()["Kai"] == ("kai", "s" * matching.KEY_LENGTH)
    run_migration_step(migration.downgrade)
    assert keys()["Mary-Jane"] == ("maryjane", "smith") and keys()["Zoë"] == ("zoe", "ng")
    run_migration_step(migration.upgrade)
    assert keys()["Mary-Jane"] == ("mary", "smith")


def test_migration_0022_keys_letters_of_their_own_as_plain_letters(app, monkeypatch):
    """People keyed with such letters dropped ("Łukasz" as "ukasz") are keyed
    as they would be now, a batch at a time; others are not read or written;
    the downgrade keys them as before."""
    old = [("Łukasz", "Wójcik", "ukasz", "wojcik"), ("Søren", "Østergård", "sren", "stergard"),
           ("Bob", "Æsir", "robert", "sir"), ("Ðóra", "Þórsdóttir", "ora", "orsdottir"),
           ("Iğd\u0131r", "Ng", "igdr", "ng"), ("Zoë", "Smith", "zoe", "smith"),
           # such a letter with a mark, one character ("Ǿ" is "Ø" and an acute)
           ("Ǿle", "Ǿstergaard", "le", "stergaard"), ("Ǽlfric", "Ng", "lfric", "ng"),
           # a key gone stale some other way is no business of this migration
           ("Amy", "Stale", "amy", "not what it was")]
    _held_keyed(old)
    migration = load_migration("0022")
    monkeypatch.setattr(migration, "BATCH", 2)

    before = keys()
    run_migration_step(migration.upgrade)
    assert keys() == {**{first: (matching.first_name_key(first), matching.last_name_key(last))
                         for first, last, *_ in old},
                      "Amy": ("amy", "not what it was")}
    assert keys()["Łukasz"] == ("lukasz", "wojcik") and keys()["Bob"] == ("robert", "aesir")
    assert keys()["Ðóra"] == ("dora", "thorsdottir") and keys()["Iğd\u0131r"] == ("igdir", "ng")
    assert keys()["Ǿle"] == ("ole", "ostergaard") and keys()["Ǽlfric"][0] == "aelfric"
    run_migration_step(migration.downgrade)
    assert keys() == before
    run_migration_step(migration.upgrade)
    assert keys()["Søren"] == ("soren", "ostergard")


def test_a_search_by_a_hyphenated_first_name_finds_it_written_either_way(make_user):
    """A word of a search is a first name keyed as the people's are: its
    first part ("Mary-Jane" finds Mary Jane and Mary-Jane, and any Mary)."""
    worker = make_user("caseworker", ("coventry",))
    for first, last in (("Mary-Jane", "Smith"), ("Mary Jane", "Brown"), ("Maryam", "Patel"),
                        ("Jane", "Doe"), ("Bobby-Joe", "Hart")):
        refer(worker, "coventry", details(first=first, last=last))

    def found(text):
        return {r.last_name for r in services.search_referrals(
            services.ReferralQuery(text=text), actor=worker).referrals}

    assert found("Mary-Jane") == {"Smith", "Brown", "Patel"}
    assert found("mary-jane smith") == found("Mary Smith") == {"Smith"}
    assert found("Jean-Luc") == set()
    assert found("Jane") == {"Doe"}
    assert found("Bob") == found("Bobby-Joe") == {"Hart"}
    assert found("Smith-Jones") == set()


@pytest.mark.parametrize(("held", "typed"), [
    (("Anne-Marie", "Kelly"), ("Annemarie", "Kelly")),
    (("Annemarie", "Kelly"), ("Anne Marie", "Kelly")),
    (("Mia", "Smith-Jones"), ("Mia", "Jones")),
    (("Mia", "Jones"), ("Mia", "Smith Jones")),
])
def test_a_name_written_together_or_in_part_is_offered(make_user, held, typed):
    """"Annemarie Kelly" and "Mia Jones", born the day "Anne-Marie Kelly" and
    "Mia Smith-Jones" were, were no candidates: the first names' keys
    differed (annemarie, anne), and the surnames were not alike."""
    worker = make_user("caseworker", ("coventry",))
    person = refer(worker, "coventry", details(first=held[0], last=held[1])).person_id
    refer(worker, "coventry", details(first="Ann", last="Kelly"))  # begins alike: no match
    found = services.find_candidates(details(first=typed[0], last=typed[1]), actor=worker)
    assert [candidate.person.id for candidate in found] == [person]
    assert any("together and apart" in reason or "part of the other" in reason
               for reason in found[0].reasons), found[0].reasons


def _others(site_id, count, *, first="Other", dob=date(2010, 3, 3), last=None):
    """``count`` people born on ``dob``, written straight into the table."""
    db.session.execute(Person.__table__.insert(), [
        {"site_id": site_id, "first_name": first, "last_name": last or f"Other{n}",
         "first_name_key": matching.first_name_key(first),
         "last_name_key": matching.last_name_key(last or f"Other{n}"), "date_of_birth": dob,
         "gender": "male", "ethnicity": "white_british", "local_authority": "coventry",
         "created_at": NOW}
        for n in range(count)])
    db.session.commit()


def test_an_exact_match_is_found_however_many_share_the_date_of_birth(make_user):
    """The pool was any 500 of the people born on or near the date (no
    order), then matched: with 600 others born the same day, the person of
    the same name and date of birth was left out, and a second one made."""
    worker = make_user("caseworker", ("coventry",))
    _others(sites_by_keys(["coventry"])[0].id, 600)
    held = refer(worker, "coventry", details(first="Zara", last="Young", dob=date(2010, 3, 3)))
    by_pnc = refer(worker, "coventry", details(first="Ann", last="Bell", dob=date(2010, 3, 3),
                                               pnc="10/123456B"))
    db.session.commit()
    found = services.find_candidates(details(first="Zara", last="Young", dob=date(2010, 3, 3)),
                                     actor=worker)
    assert [c.person.id for c in found] == [held.person_id]
    found = services.find_candidates(details(first="Zed", last="Other", dob=date(2010, 3, 3),
                                             pnc="10/123456B"), actor=worker)
    assert [c.person.id for c in found] == [by_pnc.person_id]


def test_near_matches_are_read_up_to_a_bound_the_same_surname_first(make_user, monkeypatch):
    """Near matches (here a date of birth with day and month swapped, and a
    similar surname) come from a bounded pool of the people sharing the
    first name's key, the same surname first, then by id, the same every
    time; a strong match is never cut."""
    worker = make_user("caseworker", ("coventry",))
    coventry_id = sites_by_keys(["coventry"])[0].id
    _others(coventry_id, 3, first="Zara", dob=date(2010, 3, 4))  # not alike: surnames differ
    similar = refer(worker, "coventry", details(first="Zara", last="Yung", dob=date(2010, 3, 4)))
    swapped = refer(worker, "coventry", details(first="Zara", last="Young", dob=date(2010, 4, 3)))
    exact = refer(worker, "coventry", details(first="Zara", last="Young", dob=date(2010, 3, 4)))
    db.session.commit()
    typed = details(first="Zara", last="Young", dob=date(2010, 3, 4))
    everyone = [c.person.id for c in services.find_candidates(typed, actor=worker)]
    assert sorted(everyone) == sorted([similar.person_id, swapped.person_id, exact.person_id])
    monkeypatch.setattr(services, "NEAR_POOL", 1)
    for _ in range(2):
        found = services.find_candidates(typed, actor=worker)
        assert {c.person.id for c in found} == {exact.person_id, swapped.person_id}


def _allocations():
    from casework.trial.models import Allocation

    return db.session.scalars(select(Allocation)).all()


def test_a_person_randomised_at_one_site_is_linked_not_copied_at_another(
        make_user, make_trial, triage_referral):
    """DESIGN.md "Triage", C4: a person already in the trial is never
    randomised again. Re-referred at Wolverhampton with the PNC reference,
    name and date of birth Coventry holds them by, they were no candidate
    (the check read only the caseworker's sites), a second person was made
    and randomised too. Now the Coventry person is offered, by their site
    and why alone; a new person is refused; the referral is linked to them,
    and triage keeps their allocation."""
    from casework.triage import services as triage

    make_trial()
    coventry = make_user("caseworker", ("coventry",))
    wolverhampton = make_user("caseworker", ("wolverhampton",))
    lead = make_user("lead", ("coventry", "wolverhampton"))
    typed = details(pnc="12/345678A")
    first = refer(coventry, "coventry", typed)
    db.session.commit()
    triage.decide(triage_referral(first), "eligible", None, actor=lead, now=NOW,
                  key=b"test-trial-key")
    db.session.commit()

    try:
        refer(wolverhampton, "wolverhampton", typed, confirmed=False)
        raise AssertionError("no candidates")
    except services.PossibleDuplicates as found:
        [candidate] = found.candidates
    assert (candidate.person.id, candidate.held_by, candidate.reasons) == (
        first.person_id, "Coventry", ["Same PNC reference", "Same name and date of birth"])
    try:
        refer(wolverhampton, "wolverhampton", typed, confirmed=True)
        raise AssertionError("a new person with the PNC reference")
    except services.IntakeError as refused:
        assert "PNC reference identifies one person" in refused.problems["pnc_reference"]
    assert db.session.scalar(select(func.count()).select_from(Person)) == 1

    second = refer(wolverhampton, "wolverhampton", typed, link=first.person_id)
    db.session.commit()
    assert second.person_id == first.person_id and second.site.key == "wolverhampton"
    again = triage_referral(second)
    assert triage.assess(again).criterion("C4").outcome == "fail"
    decided = triage.decide(again, "ineligible", None, actor=lead, now=NOW,
                            key=b"test-trial-key")
    db.session.commit()
    [allocation] = _allocations()
    assert decided.allocation_id == allocation.id and allocation.referral_id == first.id
    # and the person is now the Wolverhampton caseworker's to see
    assert services.person_for_page(wolverhampton, first.person_id) is not None


def test_a_strong_match_elsewhere_says_only_why(make_user):
    coventry = make_user("caseworker", ("coventry",))
    wolverhampton = make_user("caseworker", ("wolverhampton",))
    by_pnc = refer(coventry, "coventry", details(first="Ann", last="Bell", pnc="10/123456B"))
    by_name = refer(coventry, "coventry", details(first="Mary Jane", last="O'Neill",
                                                  dob=date(2009, 4, 2)))
    db.session.commit()
    [found] = services.find_candidates(details(first="Zed", last="Other", dob=date(1999, 1, 1),
                                               pnc="10/123456B"), actor=wolverhampton)
    assert (found.person.id, found.held_by, found.reasons) == (
        by_pnc.person_id, "Coventry", ["Same PNC reference"])
    [found] = services.find_candidates(details(first="Mary-Jane", last="ONeill",
                                               dob=date(2009, 4, 2)), actor=wolverhampton)
    assert (found.person.id, found.held_by, found.reasons) == (
        by_name.person_id, "Coventry", ["Same name and date of birth"])
    # a lead of both sites sees them as any candidate
    lead = make_user("lead", ("coventry", "wolverhampton"))
    [found] = services.find_candidates(details(first="Mary-Jane", last="ONeill",
                                               dob=date(2009, 4, 2)), actor=lead)
    assert found.held_by is None and "Same date of birth" in found.reasons


def test_a_same_name_and_date_of_birth_elsewhere_may_be_a_new_person(make_user):
    """Two people can share a name and a date of birth: the caseworker may
    set the match aside, audited as any other."""
    from casework.audit.models import AuditEvent

    coventry = make_user("caseworker", ("coventry",))
    wolverhampton = make_user("caseworker", ("wolverhampton",))
    held = refer(coventry, "coventry", details())
    db.session.commit()
    new = refer(wolverhampton, "wolverhampton", details(), confirmed=True)
    db.session.commit()
    assert new.person_id != held.person_id
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "person:confirmed_new")).one()
    assert event.detail["candidates_set_aside"] == [held.person_id]


@pytest.mark.parametrize("typed", [
    details(dob=date(2008, 4, 5)),                      # one digit different
    details(dob=date(2008, 4, 5), last="Smyth"),        # and a similar surname
    details(first="Callum", last="Other", dob=None),    # nobody alike
    details(dob=None),                                  # the same name, a date unknown
])
def test_no_person_of_another_site_is_offered_or_linked_but_a_strong_match(make_user, typed):
    """Near matches stay at the actor's sites; and a person the actor may
    not see is linked to only as a strong match for what was typed, so an
    id sent by hand neither links to them nor shows them."""
    coventry = make_user("caseworker", ("coventry",))
    wolverhampton = make_user("caseworker", ("wolverhampton",))
    held = refer(coventry, "coventry", details())
    db.session.commit()
    assert services.find_candidates(typed, actor=wolverhampton) == []
    assert services.find_candidates(typed, actor=coventry) != [] or typed.first_name == "Callum"
    with pytest.raises(services.IntakeError) as refused:
        refer(wolverhampton, "wolverhampton", typed, link=held.person_id)
    assert refused.value.problems == {"person": "Choose one of the people listed, "
                                                "or a new person"}
    db.session.rollback()
    assert len(db.session.get(Person, held.person_id).referrals) == 1
    assert services.person_for_page(wolverhampton, held.person_id) is None


def test_a_date_of_birth_after_any_referral_date_names_the_earliest(make_user):
    """Every referral counts, those of another site too, named without
    their reference to someone who may not see them."""
    coventry = make_user("caseworker", ("coventry",))
    both = make_user("caseworker", ("coventry", "wolverhampton"))
    person = refer(coventry, "coventry", details(dob=date(2008, 5, 4)),
                   when=date(2025, 6, 1)).person
    refer(both, "wolverhampton", details(dob=date(2008, 5, 4)), link=person.id,
          when=date(2025, 3, 1))
    db.session.commit()

    def edit(actor, dob):
        services.update_person(person, details(dob=dob), actor=actor, now=NOW)

    with pytest.raises(services.IntakeError) as refused:
        edit(coventry, date(2025, 4, 1))
    assert refused.value.problems == {"date_of_birth": (
        "Date of birth must be on or before the person's referral dates: a referral at "
        "another site is dated 1 March 2025")}
    with pytest.raises(services.IntakeError) as refused:
        edit(both, date(2025, 7, 1))
    earliest = min(person.referrals, key=lambda r: r.referral_date)
    assert refused.value.problems["date_of_birth"].endswith(
        f"referral {earliest.reference} is dated 1 March 2025 (and 1 more before 1 July 2025)")
    db.session.rollback()
    edit(both, date(2025, 3, 1))
    assert person.date_of_birth == date(2025, 3, 1)


def test_a_pnc_reference_held_at_ones_own_site_is_not_given_to_a_new_person(make_user):
    """A PNC reference identifies one person wherever they are held: at the
    caseworker's own site too, no new person is recorded with it."""
    worker = make_user("caseworker", ("coventry",))
    held = refer(worker, "coventry", details(first="Ann", last="Bell", pnc="10/123456B"))
    db.session.commit()
    other = details(first="Zed", last="Other", dob=date(1999, 1, 1), pnc="10/123456B")
    try:
        refer(worker, "coventry", other, confirmed=True)
        raise AssertionError("a new person with the PNC reference")
    except services.IntakeError as refused:
        assert refused.problems["pnc_reference"].startswith("Ann Bell has this PNC reference")
    assert db.session.scalar(select(func.count()).select_from(Person)) == 1
    assert refer(worker, "coventry", other, link=held.person_id).person_id == held.person_id


def test_an_edit_does_not_give_a_person_anothers_pnc_reference(make_user):
    """As a new person may not be given a PNC reference someone holds, an
    edit may not give it to another: the one named as far as the editor may
    see them (at another site, by that site)."""
    coventry = make_user("caseworker", ("coventry",))
    wolverhampton = make_user("caseworker", ("wolverhampton",))
    refer(coventry, "coventry", details(first="Ann", last="Bell", pnc="10/123456B"))
    ours = refer(coventry, "coventry", details(first="Cal", last="Dee")).person
    theirs = refer(wolverhampton, "wolverhampton", details(first="Eve", last="Fox")).person
    db.session.commit()
    for person, actor, named in ((ours, coventry, "Ann Bell"),
                                 (theirs, wolverhampton, "A person held by Coventry")):
        with pytest.raises(services.IntakeError) as refused:
            services.update_person(person, details(first=person.first_name,
                                                   last=person.last_name, pnc="10/123456b"),
                                   actor=actor, now=NOW)
        assert refused.value.problems == {"pnc_reference": (
            f"{named} has this PNC reference. A PNC reference identifies one person: check it")}
        db.session.rollback()
    services.update_person(ours, details(first="Cal", last="Dee", pnc="10/654321C"),
                           actor=coventry, now=NOW)
    db.session.commit()
    assert ours.pnc_reference == "10/654321C"


def test_a_twin_at_another_site_is_no_strong_match(make_user):
    """Twins share a surname and a date of birth, and Lily-Rose and
    Lily-Mae a first name key: at another site, where nothing else of them
    is shown, only the whole first name makes the same name."""
    coventry = make_user("caseworker", ("coventry",))
    wolverhampton = make_user("caseworker", ("wolverhampton",))
    refer(wolverhampton, "wolverhampton",
          details(first="Lily-Rose", last="Okafor", dob=date(2010, 5, 5)))
    db.session.commit()
    assert services.find_candidates(details(first="Lily-Mae", last="Okafor",
                                            dob=date(2010, 5, 5)), actor=coventry) == []
    [found] = services.find_candidates(details(first="Lily Rose", last="Okafor",
                                               dob=date(2010, 5, 5)), actor=coventry)
    assert (found.held_by, found.reasons) == ("Wolverhampton", ["Same name and date of birth"])



def _one_checks_while_the_other_waits(monkeypatch, first, second):
    """Run ``first`` (recording a referral) and ``second`` at once: the
    second sent once the first's duplicate check is done, the first held
    there until the second is done or is seen waiting for a lock
    (PostgreSQL's pg_locks). Without a lock both checks find nobody, and
    both write."""
    from sqlalchemy import text

    from tests.integration.test_concurrent_writes import _run

    real = services.find_candidates
    first_checked, second_checked = threading.Event(), threading.Event()
    first_thread = []

    def find_candidates(details, *, actor):
        found = real(details, actor=actor)
        if threading.current_thread() is first_thread[0]:
            first_checked.set()
            for _ in range(200):
                if second_checked.wait(0.05):
                    break
                with db.engine.connect() as watcher:
                    if watcher.execute(text("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                                            "AND NOT granted")).first():
                        break
        return found

    monkeypatch.setattr(services, "find_candidates", find_candidates)

    def run_first():
        first_thread.append(threading.current_thread())
        return first()

    def run_second():
        assert first_checked.wait(20)
        try:
            return second()
        finally:
            second_checked.set()

    return _run(run_first, run_second)


@pytest.mark.postgres
@pytest.mark.parametrize("by", ["pnc", "name and date of birth"])
def test_the_same_child_referred_at_two_sites_at_once_is_one_person(app, make_user,
                                                                     monkeypatch, by):
    """Each request's duplicate check ran before either wrote, so both found
    nobody and the same child (the same PNC reference, or the same name and
    date of birth) was recorded twice, and could be randomised twice. The
    second now waits for the first, and then finds them as a candidate."""
    from casework.accounts.models import User

    at = {site: make_user("caseworker", (site,), email=f"{site}@example.org").id
          for site in ("coventry", "wolverhampton")}
    pnc = "09/123456Z" if by == "pnc" else None

    def referral_at(site):
        def send():
            refer(db.session.get(User, at[site]), site,
                  details("Tyler", "Reid", date(2009, 4, 2), pnc=pnc), confirmed=False)
            db.session.commit()
        return send

    _, errors = _one_checks_while_the_other_waits(
        monkeypatch, referral_at("coventry"), referral_at("wolverhampton"))
    assert 0 not in errors
    assert isinstance(errors.get(1), services.PossibleDuplicates)
    assert db.session.scalar(select(func.count()).select_from(Person)) == 1


@pytest.mark.postgres
def test_a_pnc_reference_given_by_an_edit_and_a_referral_at_once_is_one_persons(
        app, make_user, monkeypatch):
    """An edit giving someone a PNC reference while a referral records a new
    person with it: each checked before the other wrote, both were saved."""
    from casework.accounts.models import User

    worker = make_user("caseworker", ("coventry",))
    held = refer(worker, "coventry", details("Amy", "Bell", date(2010, 1, 5))).person_id
    db.session.commit()
    pnc = "09/123456Z"

    def referral():
        refer(db.session.get(User, worker.id), "coventry",
              details("Tyler", "Reid", date(2009, 4, 2), pnc=pnc))
        db.session.commit()

    def edit():
        person = db.session.get(Person, held)
        services.update_person(person, details("Amy", "Bell", date(2010, 1, 5), pnc=pnc),
                               actor=db.session.get(User, worker.id), now=NOW)
        db.session.commit()

    _, errors = _one_checks_while_the_other_waits(monkeypatch, referral, edit)
    assert 0 not in errors and isinstance(errors.get(1), services.IntakeError)
    assert "pnc_reference" in errors[1].problems
    assert db.session.scalar(select(func.count()).select_from(Person)
                             .where(Person.pnc_reference == pnc)) == 1
