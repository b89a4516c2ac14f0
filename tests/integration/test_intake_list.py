"""The referrals list: search, filters, sorting, paging, scope, and no query per row."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event

from casework.accounts.services import sites_by_keys
from casework.extensions import db
from casework.intake import services
from casework.intake.reference import ReferralStatus
from tests.conftest import count_queries, statements_sent


@pytest.fixture
def referrals(app, make_user, now):
    coventry, wolverhampton = sites_by_keys(["coventry", "wolverhampton"])
    lead = make_user("lead", ("coventry", "wolverhampton"))
    rows = [
        ("Robert", "Smith", date(2007, 1, 2), coventry, date(2026, 10, 1), "police"),
        ("Amir", "Khan", date(2006, 5, 6), coventry, date(2026, 9, 1), "school"),
        ("Leah", "Smith-Jones", date(2008, 7, 8), wolverhampton, date(2026, 8, 1), "police"),
        ("Zara", "Ahmed", date(2005, 9, 10), wolverhampton, date(2026, 7, 1), "probation"),
    ]
    made = []
    for first, last, dob, site, when, source in rows:
        made.append(services.record_referral(
            services.PersonDetails(first, last, dob, "female", "not_stated", site.key),
            services.ReferralDetails(site.id, when, source, "Referrer", "Reason"),
            existing_person_id=None, actor=lead, now=now,
        ))
    services.change_status(made[1], ReferralStatus.IN_TRIAGE, actor=lead, now=now)
    db.session.commit()
    return lead, made, coventry, wolverhampton


def names(page) -> list[str]:
    return [r.last_name for r in page.referrals]


def test_newest_first_by_default(referrals):
    lead, *_ = referrals
    assert names(services.search_referrals(services.ReferralQuery(), actor=lead)) == \
        ["Smith", "Khan", "Smith-Jones", "Ahmed"]


def test_sorting(referrals):
    lead, *_ = referrals
    oldest = services.search_referrals(services.ReferralQuery(sort="oldest"), actor=lead)
    by_name = services.search_referrals(services.ReferralQuery(sort="name"), actor=lead)
    assert names(oldest) == ["Ahmed", "Smith-Jones", "Khan", "Smith"]
    assert names(by_name) == ["Ahmed", "Khan", "Smith", "Smith-Jones"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (services.ReferralQuery(text="smith"), {"Smith", "Smith-Jones"}),
        (services.ReferralQuery(text="smithjones"), {"Smith-Jones"}),
        (services.ReferralQuery(text="Bob Smith"), {"Smith"}),  # nickname of Robert
        (services.ReferralQuery(text="kha"), {"Khan"}),
        (services.ReferralQuery(text="amir"), {"Khan"}),  # a first name
        (services.ReferralQuery(text="ahmed zara"), {"Ahmed"}),  # each word, either name
        (services.ReferralQuery(status="in_triage"), {"Khan"}),
        (services.ReferralQuery(source="police"), {"Smith", "Smith-Jones"}),
        (services.ReferralQuery(date_from=date(2026, 8, 1), date_to=date(2026, 9, 1)),
         {"Khan", "Smith-Jones"}),
        (services.ReferralQuery(text="100%_"), set()),
    ],
)
def test_filters(referrals, query, expected):
    lead, *_ = referrals
    assert set(names(services.search_referrals(query, actor=lead))) == expected


def test_a_person_matching_by_both_names_is_listed_and_counted_once(referrals, now):
    lead, _, coventry, _ = referrals
    services.record_referral(
        services.PersonDetails("Kim", "Kimber", date(2007, 3, 4), "female", "not_stated",
                               coventry.key),
        services.ReferralDetails(coventry.id, date(2026, 11, 1), "police", "Referrer", "Reason"),
        existing_person_id=None, actor=lead, now=now)
    db.session.commit()
    page = services.search_referrals(services.ReferralQuery(text="kim"), actor=lead)
    assert names(page) == ["Kimber"] and page.total == 1


def _referred(referrals, now, *names: tuple[str, str]):
    """A referral at Coventry of a new person of each (first, last) name;
    the lead who made them."""
    lead, _, coventry, _ = referrals
    for first, last in names:
        services.record_referral(
            services.PersonDetails(first, last, date(2007, 3, 4), "male", "not_stated",
                                   coventry.key),
            services.ReferralDetails(coventry.id, date(2026, 11, 1), "police", "Referrer",
                                     "Reason"),
            existing_person_id=None, actor=lead, now=now)
    db.session.commit()
    return lead


@pytest.mark.parametrize(("text", "expected"), [
    ("De Souza", {"De Souza"}), ("de souza", {"De Souza"}), ("Lee De Souza", {"De Souza"}),
    ("van der Berg", {"van der Berg"}), ("Kim van der Berg", {"van der Berg"}),
    ("Smith Jones", {"Smith-Jones"}), ("Leah Smith Jones", {"Smith-Jones"}),
    ("O Brien", {"O'Brien"}), ("Smith", {"Smith", "Smith-Jones"}),
    ("Leah Khan", set()),  # no one of those two names: nothing, not a joined guess
])
def test_a_surname_of_several_words_is_found_typed_with_spaces(referrals, now, text,
                                                                expected):
    """A surname's key is one word ("De Souza" is desouza), and each word of
    a search had to begin a name: "De Souza", "van der Berg" and "Smith
    Jones" found no one (found by review). Read each way, the people any
    reading names found together: each word a name, the first a name and
    the rest one surname, all one surname."""
    lead = _referred(referrals, now, ("Lee", "De Souza"), ("Kim", "van der Berg"),
                     ("Sean", "O'Brien"))
    found = services.search_referrals(services.ReferralQuery(text=text), actor=lead)
    assert set(names(found)) == expected


def test_a_search_finds_the_people_of_every_reading_of_its_words(referrals, now):
    """The readings of a search's words were tried in turn, and the first to
    find anyone hid the rest: "Al Hassan" found Ali Hassan (Al begins Ali)
    and not Omar Al-Hassan (found by review)."""
    lead = _referred(referrals, now, ("Ali", "Hassan"), ("Omar", "Al-Hassan"),
                     ("Alan", "Hassani"), ("Mary-Jane", "Okoro"), ("Mary", "Ndlovu"),
                     ("Mary Jane", "Watson"), ("Kate", "Smith"))
    for text, expected in (("Al Hassan", {"Hassan", "Al-Hassan", "Hassani"}),
                           ("Omar Al Hassan", {"Al-Hassan"}),
                           ("Ali Hassan", {"Hassan"}),
                           # joined by their keys: "Mary-JaneOkoro" read as the
                           # first name Mary found every Mary
                           ("Mary-Jane Okoro", {"Okoro"}),
                           # a first name's later parts and a middle name are
                           # keyed by nothing: the first and last words found
                           # them, where "Mary Jane Watson" found no one
                           ("Mary Jane Watson", {"Watson"}),
                           ("Mary Jane Okoro", {"Okoro"}),
                           ("Kate Louise Smith", {"Smith"}),
                           # a word keyed by nothing is no part of a reading
                           ("? Omar Al Hassan", {"Al-Hassan"})):
        found = services.search_referrals(services.ReferralQuery(text=text), actor=lead)
        assert set(names(found)) == expected, text
        assert found.total == len(expected), text

def test_search_by_reference(referrals):
    lead, made, *_ = referrals
    page = services.search_referrals(services.ReferralQuery(text=made[2].reference), actor=lead)
    assert names(page) == ["Smith-Jones"]
    lower = services.search_referrals(
        services.ReferralQuery(text=made[2].reference.lower()), actor=lead)
    assert names(lower) == ["Smith-Jones"]


def test_a_search_with_nothing_to_look_for_finds_nobody(referrals):
    """No letter or digit a name is keyed by, and no reference: it listed
    every referral (the page refuses it too: ReferralFilterForm)."""
    lead, *_ = referrals
    for text in ("?", "--", "\u0645\u062d\u0645\u062f"):
        page = services.search_referrals(services.ReferralQuery(text=text), actor=lead)
        assert (names(page), page.total) == ([], 0)
    assert names(services.search_referrals(services.ReferralQuery(text="? khan"), actor=lead)) \
        == ["Khan"]


def test_a_first_name_is_found_by_its_beginning_though_that_is_a_nickname(app, make_user,
                                                                           now):
    """"Chris" was looked for as Christopher (its nickname's full name) alone,
    so Christina was not found by it, nor Samantha by "Sam", Alexa by "Alex"
    or Bethany by "Beth". The word's own key is looked for too."""
    coventry = sites_by_keys(["coventry"])[0]
    worker = make_user("caseworker", ("coventry",))
    for first, last in (("Christina", "Abbot"), ("Christopher", "Ames"), ("Chris", "Arden"),
                        ("Samantha", "Baker"), ("Samuel", "Bell"), ("Alexa", "Cole"),
                        ("Bethany", "Dunn"), ("Elizabeth", "Drew"), ("Bobbie", "Hart"),
                        ("Robert", "Hill")):
        services.record_referral(
            services.PersonDetails(first, last, date(2008, 1, 1), "female", "not_stated",
                                   "coventry"),
            services.ReferralDetails(coventry.id, date(2026, 10, 1), "police", "PC", "Reason"),
            existing_person_id=None, actor=worker, now=now)
    db.session.commit()

    def found(text):
        return sorted(names(services.search_referrals(services.ReferralQuery(text=text),
                                                      actor=worker)))

    assert found("Chris") == ["Abbot", "Ames", "Arden"]
    assert found("Christ") == ["Abbot", "Ames", "Arden"]  # (Chris is keyed christopher)
    assert found("Sam") == ["Baker", "Bell"] and found("Alex") == ["Cole"]
    assert found("Beth") == ["Drew", "Dunn"] and found("Bob") == ["Hart", "Hill"]
    assert found("Chris Abbot") == ["Abbot"] and found("Kit") == ["Ames", "Arden"]


def test_site_filter_and_scope(referrals, make_user):
    lead, _, _, wolverhampton = referrals
    only_wolves = services.search_referrals(
        services.ReferralQuery(site_id=wolverhampton.id), actor=lead)
    assert set(names(only_wolves)) == {"Smith-Jones", "Ahmed"}
    coventry_worker = make_user("caseworker", ("coventry",))
    mine = services.search_referrals(services.ReferralQuery(), actor=coventry_worker)
    assert set(names(mine)) == {"Smith", "Khan"}
    # asking for another site's referrals gives nothing, not them
    theirs = services.search_referrals(
        services.ReferralQuery(site_id=wolverhampton.id), actor=coventry_worker)
    assert theirs.total == 0


def test_paging(referrals):
    lead, *_ = referrals
    first = services.search_referrals(services.ReferralQuery(), actor=lead, per_page=3)
    second = services.search_referrals(services.ReferralQuery(), actor=lead, page=2, per_page=3)
    assert (first.total, first.pages) == (4, 2)
    assert names(first) + names(second) == ["Smith", "Khan", "Smith-Jones", "Ahmed"]
    assert (first.has_next, second.has_next) == (True, False)
    # a page past the end (an old link) shows the last page
    past = services.search_referrals(services.ReferralQuery(), actor=lead, page=9, per_page=3)
    assert (past.page, past.total, names(past), past.has_next) == (2, 4, ["Ahmed"], False)
    for number in (0, -3):  # no page before the first
        assert services.search_referrals(services.ReferralQuery(), actor=lead,
                                         page=number).page == 1
    nothing = services.search_referrals(services.ReferralQuery(status="eligible"), actor=lead,
                                        page=3)
    assert (nothing.page, nothing.total, nothing.referrals) == (1, 0, [])


def test_counting_stops_at_the_cap_and_paging_goes_on(referrals, monkeypatch):
    lead, *_ = referrals
    monkeypatch.setattr(services, "COUNT_CAP", 2)
    first = services.search_referrals(services.ReferralQuery(), actor=lead, per_page=1)
    assert (first.total, first.capped, first.has_next) == (2, True, True)
    pages = [services.search_referrals(services.ReferralQuery(), actor=lead, page=n,
                                       per_page=1) for n in range(1, 6)]
    assert [names(p) for p in pages] == [["Smith"], ["Khan"], ["Smith-Jones"], ["Ahmed"], []]
    assert [p.has_next for p in pages] == [True, True, True, False, False]
    assert [p.page for p in pages] == [1, 2, 3, 4, 5]  # beyond the count, not sent back to 2
    monkeypatch.setattr(services, "COUNT_CAP", 4)  # exactly the cap: counted, not capped
    exact = services.search_referrals(services.ReferralQuery(), actor=lead, per_page=3)
    assert (exact.total, exact.capped, exact.pages) == (4, False, 2)


def test_a_search_is_counted_and_paged_from_its_ids_in_order(referrals, monkeypatch):
    """A search reads its matches in order, up to the cap, once, and counts
    and pages them in the same statement; a page past the cap is read as a
    page of the list."""
    lead, *_ = referrals
    smith = {"text": "smith"}
    assert names(services.search_referrals(services.ReferralQuery(**smith), actor=lead)) == \
        ["Smith", "Smith-Jones"]
    assert names(services.search_referrals(services.ReferralQuery(**smith, sort="oldest"),
                                           actor=lead)) == ["Smith-Jones", "Smith"]
    monkeypatch.setattr(services, "COUNT_CAP", 1)
    pages = []
    for n in range(1, 4):
        found = []
        queries = count_queries(lambda n=n, found=found: found.append(services.search_referrals(
            services.ReferralQuery(**smith), actor=lead, page=n, per_page=1)))
        pages.append((found[0], queries))
    assert [names(p) for p, _ in pages] == [["Smith"], ["Smith-Jones"], []]
    assert [(p.total, p.capped, p.has_next) for p, _ in pages] == \
        [(1, True, True), (1, True, False), (1, True, False)]
    # one statement a page; an empty page (past the end) counts on its own
    assert [queries for _, queries in pages] == [1, 1, 2]


def test_the_list_says_more_than_when_capped(referrals, client, monkeypatch):
    from tests.conftest import sign_in

    lead, *_ = referrals
    assert sign_in(client, lead.email).status_code == 302
    monkeypatch.setattr(services, "COUNT_CAP", 3)
    page = client.get("/referrals").get_data(as_text=True)
    assert "More than 3 referrals" in page and "Page 1 of more than 1" in page
    monkeypatch.setattr(services, "COUNT_CAP", 10_000)
    page = client.get("/referrals").get_data(as_text=True)
    assert "4 referrals" in page and "Page 1 of 1" in page and "More than" not in page


def test_a_page_and_a_search_cost_one_query_however_many_rows(referrals):
    from casework.intake.models import Person, Referral

    lead, *_ = referrals
    assert lead.site_ids  # the signed-in user and their sites are already loaded
    for obj in list(db.session):
        if isinstance(obj, Person | Referral):
            db.session.expunge(obj)
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        page = services.search_referrals(services.ReferralQuery(), actor=lead)
        rendered = [(r.last_name, r.site_name, r.reference) for r in page.referrals]
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(rendered) == 4
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, selects  # the page's rows, each with the count
    searched = []
    queries = count_queries(lambda: searched.append(
        services.search_referrals(services.ReferralQuery(text="smith"), actor=lead)))
    assert names(searched[0]) == ["Smith", "Smith-Jones"] and searched[0].total == 2
    assert queries == 1


def test_list_page_renders_and_is_audited(referrals, client):
    from sqlalchemy import select

    from casework.audit.models import AuditEvent
    from tests.conftest import sign_in

    lead, *_ = referrals
    sign_in(client, lead.email)
    page = client.get("/referrals?q=smith&sort=name").get_data(as_text=True)
    assert "Smith, Robert" in page and "Smith-Jones, Leah" in page and "Khan" not in page
    event_ = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "referral:listed")).one()
    assert event_.detail["searched"] is True and "smith" not in str(event_.detail)


def test_an_undecided_duplicate_writes_nothing(referrals, now):
    from sqlalchemy import func, select

    from casework.audit.models import AuditEvent
    from casework.intake.models import Person, Referral

    lead, _, coventry, _ = referrals
    before = [db.session.scalar(select(func.count()).select_from(m))
              for m in (Person, Referral, AuditEvent)]
    with pytest.raises(services.PossibleDuplicates) as found:
        services.record_referral(
            services.PersonDetails("Bob", "Smith", date(2007, 1, 2), "male", "not_stated",
                                   "coventry"),
            services.ReferralDetails(coventry.id, date(2026, 11, 1), "police", "R", "Again"),
            existing_person_id=None, new_person_confirmed=False, actor=lead, now=now,
        )
    assert [c.person.last_name for c in found.value.candidates] == ["Smith"]
    after = [db.session.scalar(select(func.count()).select_from(m))
             for m in (Person, Referral, AuditEvent)]
    assert after == before


def test_rows_of_columns_see_what_the_session_holds(referrals, now):
    """``column_rows`` flushes the session first, as ``session.execute`` does:
    a referral recorded in the same transaction is counted."""
    from sqlalchemy import func, select

    from casework.database import column_rows
    from casework.intake.models import Referral

    _, made, coventry, _ = referrals
    count = select(func.count()).select_from(Referral)
    before = column_rows(count).scalar()
    db.session.add(Referral(person_id=made[0].person_id, site_id=coventry.id,
                            referral_date=date(2026, 11, 3), source="police",
                            referrer_name="Referrer", reason="Reason", risk_indicators=[],
                            status="received", created_at=now))
    assert column_rows(count).scalar() == before + 1
    db.session.rollback()
    assert column_rows(count).scalar() == before
    rows = column_rows(select(Referral.id, Referral.referral_date).order_by(Referral.id)).all()
    assert rows == db.session.execute(
        select(Referral.id, Referral.referral_date).order_by(Referral.id)).all()


def _sent(fn) -> list[str]:
    """The statements reading referrals that ``fn()`` sends, as sent."""
    return [s for s in statements_sent(fn) if "FROM referrals" in s]


def test_the_unfiltered_list_is_sent_with_its_bounds_written_in(referrals, monkeypatch):
    """So PostgreSQL can plan it once for every request (see capped_count: on
    the bench's data it then did, where it planned every page afresh); a
    filtered list and a search keep theirs as parameters (a filtered list is
    planned for its values; a search is planned once, see
    test_postgresql_keeps_one_plan_for_a_search_and_plans_a_filtered_one_for_its_values)."""
    lead, *_ = referrals
    monkeypatch.setattr(services, "COUNT_CAP", 3)
    first, second = (_sent(lambda page=page: services.search_referrals(
        services.ReferralQuery(), actor=lead, page=page, per_page=2)) for page in (1, 2))
    assert "LIMIT 4" in first[0] and "LIMIT 3 OFFSET 0" in first[0]
    assert "LIMIT 4" in second[0] and "LIMIT 3 OFFSET 2" in second[0]
    for query in (services.ReferralQuery(status=ReferralStatus.RECEIVED),
                  services.ReferralQuery(text="smith")):
        sent = _sent(lambda query=query: services.search_referrals(query, actor=lead,
                                                                   per_page=2))
        assert len(sent) == 1 and not any(f"LIMIT {n}" in sent[0] for n in (3, 4)), sent


@pytest.mark.postgres
def test_postgresql_keeps_one_plan_for_a_search_and_plans_a_filtered_one_for_its_values(
        app, make_user, now):
    """psycopg prepares a statement on its sixth run on a connection, and
    PostgreSQL plans a prepared statement for its values five times, then
    keeps one plan for any values unless planning for them looks cheaper.
    Given a search's name bounds, it estimated a narrow range of names far
    below a range in general, and planned every search afresh; read through
    subqueries, every search is estimated alike and it keeps the one plan.
    A search with a filter as well, and a filtered list, are still planned
    for their values. (Enough people, analysed, for the estimates to differ;
    the rarest one-word surnames, so each search is one name.)"""
    from sqlalchemy import func, select, text

    from casework.demo.people import seed_people
    from casework.intake.models import Person

    seed_people(3000, 5, now=now)
    lead = make_user("lead", ("birmingham", "coventry", "dudley", "sandwell", "solihull",
                              "walsall", "wolverhampton"))
    db.session.commit()
    db.session.execute(text("ANALYZE people"))
    db.session.execute(text("ANALYZE referrals"))
    by_rarity = db.session.scalars(select(Person.last_name).group_by(Person.last_name)
                                   .order_by(func.count(), Person.last_name)).all()
    surnames = [name for name in by_rarity if name.isalpha()][:3]
    for _ in range(5):  # fifteen runs of each, on the session's one connection
        for surname in surnames:
            assert services.search_referrals(services.ReferralQuery(text=surname),
                                             actor=lead).total >= 1
            services.search_referrals(services.ReferralQuery(
                text=surname, status=ReferralStatus.RECEIVED), actor=lead)
            services.search_referrals(services.ReferralQuery(status=ReferralStatus.RECEIVED),
                                      actor=lead)
    plans = {statement: (generic, custom) for statement, generic, custom in db.session.execute(
        text("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
             "WHERE statement LIKE '%FROM referrals%'"))}

    def plans_of(*words: str, without: str = "") -> tuple[int, int]:
        [found] = [v for k, v in plans.items()
                   if all(word in k for word in words) and not (without and without in k)]
        return found

    # prepared on the sixth run: of its ten runs since, five planned for
    # their values, as PostgreSQL always does first, and five with one plan
    assert plans_of("WITH found", without="referrals.status =") == (5, 5), plans
    # a name and a status: planned for its values every time
    filtered = plans_of("WITH found", "referrals.status =")
    assert filtered[0] == 0 and filtered[1] >= 5, plans
    listed = plans_of("SELECT referrals.id", "referrals.status =", without="last_name_key")
    assert listed[1] >= 1, plans  # planned for the status it names


@pytest.mark.postgres
def test_with_statements_never_prepared_a_search_is_planned_for_each_name(make_app, referrals):
    """DATABASE_PREPARE_THRESHOLD=off (for a PgBouncer older than 1.21 in
    transaction pooling mode): nothing is prepared on the server, and
    searches and lists answer as before (planned each time)."""
    from sqlalchemy import text

    from casework.accounts.models import User

    lead_id = referrals[0].id
    db.session.commit()
    unprepared = make_app(DATABASE_PREPARE_THRESHOLD=None)
    with unprepared.app_context():
        lead = db.session.get(User, lead_id)
        for _ in range(3):
            for name, expected in (("smith", ["Smith", "Smith-Jones"]), ("khan", ["Khan"])):
                assert names(services.search_referrals(services.ReferralQuery(text=name),
                                                       actor=lead)) == expected
            assert len(services.search_referrals(services.ReferralQuery(), actor=lead)
                       .referrals) == 4
        assert db.session.connection().connection.driver_connection.prepare_threshold is None
        assert db.session.scalar(text("SELECT count(*) FROM pg_prepared_statements")) == 0
        db.session.rollback()
