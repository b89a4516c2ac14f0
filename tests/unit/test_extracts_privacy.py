"""Pseudonyms, the generalisation ladder, k-anonymity, small-number
suppression (a property: no hidden cell can be worked back from the totals),
formula neutralising and the CONSORT drawing (no app, no database)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from fractions import Fraction
from itertools import chain

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.extracts import consort, privacy


def test_pseudonyms_are_stable_under_one_key_and_unrelated_under_another():
    a = privacy.pseudonym(b"key one", "person", 42)
    assert a == privacy.pseudonym(b"key one", "person", 42)
    assert a != privacy.pseudonym(b"key two", "person", 42)
    assert a != privacy.pseudonym(b"key one", "person", 43)
    assert a != privacy.pseudonym(b"key one", "referral", 42)
    assert a.startswith("P") and len(a) == 21 and "42" not in a[1:3]
    assert privacy.key_id(b"key one") != privacy.key_id(b"key two")
    assert "key one" not in privacy.key_id(b"key one")


def test_a_pseudonym_is_hmac_sha256_of_its_label():
    # Pseudonyms must not change between releases: extracts are linked by them.
    assert privacy.pseudonym(b"key one", "person", 42) == "P" + hmac.new(
        b"key one", b"casework/pseudonym/1|person|42", hashlib.sha256).hexdigest()[:20]


def test_the_generalisation_ladder():
    assert [privacy.age_band(15, level) for level in (0, 1, 2)] == ["14-15", "under 18",
                                                                     "under 25"]
    assert [privacy.age_band(26, level) for level in (0, 1, 2)] == ["25-29", "25+", "25+"]
    assert privacy.age_band(None, 0) == "unknown"
    day = date(2026, 5, 17)
    assert [privacy.period(day, level) for level in (0, 1, 2)] == ["2026-05", "2026-Q2", "2026"]
    assert [privacy.ethnicity("black", level) for level in (0, 1, 2)] == ["black", "black", "*"]


def test_a_stratum_is_no_finer_than_the_age_band_at_its_level():
    assert [privacy.stratum("coventry/14-17", level) for level in (0, 1, 2)] == [
        "coventry/14-17", "coventry/14-17", "coventry/under 25"]
    assert privacy.stratum("coventry/18-24", 2) == "coventry/under 25"
    assert privacy.stratum("wolverhampton/25+", 2) == "wolverhampton/25+"
    assert privacy.stratum("coventry", 2) == "coventry"     # a site-only stratum
    assert privacy.stratum("coventry/unheard-of", 2) == "coventry/*"


def test_k_anonymity_on_hand_made_data():
    rows = [("cov", "14-15"), ("cov", "14-15"), ("cov", "14-15"), ("wol", "16-17"),
            ("wol", "16-17"), ("cov", "18-20")]
    report = privacy.k_anonymity(rows, threshold=3)
    assert (report.rows, report.classes, report.k, report.rows_below) == (6, 3, 1, 3)
    assert not report.meets
    assert privacy.k_anonymity([("a",)] * 5, threshold=5).meets
    assert privacy.k_anonymity([], threshold=5).k == 0


def test_formulas_are_neutralised():
    for text in ("=1+1", "+cmd", "-2+3", "@SUM(A1)", "\t=x", "\r=x"):
        assert privacy.csv_safe(text) == "'" + text
    assert privacy.csv_safe("coventry") == "coventry"
    assert privacy.csv_safe(5) == 5


def test_a_row_of_cells_is_neutralised_as_each_cell_is():
    from casework.pathways.states import Pathway

    row = ["=1+1", "coventry", 5, None, True, "", "-", Pathway.ENGAGED, "+cmd", "a=b"]
    assert privacy.csv_cells(row) == [privacy.csv_safe(value) for value in row]
    assert privacy.csv_cells(row) == ["'=1+1", "coventry", 5, None, True, "", "'-",
                                      Pathway.ENGAGED, "'+cmd", "a=b"]
    assert privacy.csv_cells(iter(row))[0] == "'=1+1"


def test_pseudonyms_under_one_key_are_the_single_pseudonym():
    many = privacy.Pseudonyms(b"key one")
    for kind, ident in [("person", 42), ("referral", 42), ("caseworker", 7), ("person", 0),
                        ("person", 2**31 - 1), ("person", 42)]:
        assert many(kind, ident) == privacy.pseudonym(b"key one", kind, ident)
        assert many(kind, ident) == kind[0].upper() + hmac.new(
            b"key one", f"casework/pseudonym/1|{kind}|{ident}".encode(),
            hashlib.sha256).hexdigest()[:20]
    assert privacy.Pseudonyms(b"key two")("person", 42) != many("person", 42)


def test_a_period_depends_only_on_the_month():
    """The extract's plan counts dates by month (services._quasi_values),
    which is right only while no level of the ladder is finer than that."""
    from datetime import date, timedelta

    day = date(2024, 1, 1)
    while day.year < 2025:
        for level in privacy.LEVELS:
            assert privacy.period(day, level) == privacy.period(day.replace(day=1), level)
        day += timedelta(days=1)


def determined(cells: list[list[int | None]], row_totals, col_totals, total
               ) -> set[tuple[int, int]]:
    """Hidden figures whose value follows from those shown: by exact Gaussian
    elimination over the hidden unknowns (an independent check). The
    unknowns are the hidden cells, (r, c), and the hidden totals: a row's
    as (r, -1), a column's as (-1, c), the grand total as (-1, -1)."""
    n_rows, n_cols = len(cells), len(cells[0]) if cells else 0
    value = {(r, c): v for r, row in enumerate(cells) for c, v in enumerate(row)}
    value |= {(r, -1): v for r, v in enumerate(row_totals)}
    value |= {(-1, c): v for c, v in enumerate(col_totals)} | {(-1, -1): total}
    hidden = [cell for cell, v in value.items() if v is None]
    index = {cell: i for i, cell in enumerate(hidden)}
    # every line: its cells, less its total, make nothing; the totals row
    # and column are lines too (their total is the grand total)
    lines = [[(r, c) for c in range(-1, n_cols)] for r in range(-1, n_rows)]
    lines += [[(r, c) for r in range(-1, n_rows)] for c in range(-1, n_cols)]
    equations = []
    for line in lines:
        coeffs = [Fraction(0)] * len(hidden)
        for cell in line:
            if value[cell] is None:
                coeffs[index[cell]] = Fraction(-1 if cell == line[0] else 1)  # the total
        equations.append(coeffs)
    # row-reduce; a unknown is determined iff its unit vector is in the row space
    rows = [e[:] for e in equations if any(e)]
    basis = []
    for vec in rows:
        for pivot_col, b in basis:
            if vec[pivot_col]:
                factor = vec[pivot_col] / b[pivot_col]
                vec = [x - factor * y for x, y in zip(vec, b, strict=True)]
        pivot = next((i for i, x in enumerate(vec) if x), None)
        if pivot is not None:
            for k, (pc, b) in enumerate(basis):
                if b[pivot]:
                    factor = b[pivot] / vec[pivot]
                    basis[k] = (pc, [x - factor * y for x, y in zip(b, vec, strict=True)])
            basis.append((pivot, vec))
    found = set()
    for i, cell in enumerate(hidden):
        target = [Fraction(1 if j == i else 0) for j in range(len(hidden))]
        for pivot_col, b in basis:
            if target[pivot_col]:
                factor = target[pivot_col] / b[pivot_col]
                target = [x - factor * y for x, y in zip(target, b, strict=True)]
        if not any(target):
            found.add(cell)
    return found


# one row or one column too: there each cell's total is the cell again
tables = st.integers(1, 5).flatmap(lambda rows: st.integers(1, 5).flatmap(
    lambda cols: st.lists(st.lists(st.integers(0, 12), min_size=cols, max_size=cols),
                          min_size=rows, max_size=rows)))


@settings(max_examples=400, deadline=None)
@given(tables)
def test_suppressed_figures_cannot_be_worked_back_from_those_shown(table):
    cells, row_totals, col_totals, total = privacy.suppress(table, threshold=5)
    exact = [*chain.from_iterable(table), *map(sum, table),
             *map(sum, zip(*table, strict=True)), sum(map(sum, table))]
    published = [*chain.from_iterable(cells), *row_totals, *col_totals, total]
    for shown, value in zip(published, exact, strict=True):
        if 0 < value < 5:
            assert shown is None            # every small count is hidden, totals too
        elif shown is not None:
            assert shown == value           # shown figures are exact
    assert determined(cells, row_totals, col_totals, total) == set()


def test_the_check_finds_a_figure_the_others_give_away():
    """The check above is live: a hidden cell in a row whose total is shown,
    alone, is found; so is a total that is its one hidden cell."""
    assert determined([[None, 12]], [15], [3, 12], 15) == {(0, 0)}
    assert determined([[None, 12]], [None], [None, 12], 15) == {(0, 0), (0, -1), (-1, 0)}
    assert determined([[None, None]], [15], [None, None], 15) == set()


@pytest.mark.parametrize(("table", "shown"), [
    # found by review: one site's seven people in two arms, every figure under 10
    ([[4, 3]], ([[None, None]], [None], [None, None], None)),
    ([[4], [3]], ([[None], [None]], [None, None], [None], None)),
    # a lone small cell of a row: another goes with it, and both column totals
    ([[20, 3, 15]], ([[20, None, None]], [40], [20, None, None], 40)),
    ([[3]], ([[None]], [None], [None], None)),
])
def test_totals_under_ten_are_hidden_and_give_nothing_away(table, shown):
    assert privacy.publish(table) == shown


def test_published_tables_hide_under_ten_and_round_to_five():
    cells, rows, cols, total = privacy.publish([[3, 12, 27], [40, 33, 11], [0, 0, 52]])
    assert cells[0][0] is None and all(v is None or v % 5 == 0 for row in cells for v in row)
    assert rows == [40, 85, 50] and cols == [45, 45, 90] and total == 180
    assert cells[1][1] == 35 and cells[2][2] == 50  # shown counts, rounded
    # its cover is not the zeros below it: their row's total shows they are zeros
    assert cells == [[None, 10, None], [None, 35, None], [0, 0, 50]]


def test_a_lone_small_cell_takes_others_with_it():
    cells, rows, cols, total = privacy.suppress([[3, 10, 12], [20, 30, 40]], threshold=5)
    hidden = {(r, c) for r, row in enumerate(cells) for c, v in enumerate(row) if v is None}
    assert (0, 0) in hidden and len(hidden) == 4   # the cheapest rectangle
    assert None not in (*rows, *cols, total)


def test_the_consort_diagram_shows_its_counts():
    flow = consort.Flow(referred=120, triaged=100, awaiting_decision=7, ineligible=40,
                        randomised=53, treatment=27, control=26, treatment_in_error=1,
                        control_in_error=0, treatment_engaged_ever=15, treatment_exited=4,
                        control_deviations=2)
    svg = consort.svg(flow, title="CIRV <trial>")
    for text in ("Referred: 120", "Not yet triaged: 20", "Randomised", "Analysed",
                 "CIRV &lt;trial&gt;"):
        assert text in svg
    assert flow.counts()["treatment_analysed"] == 26


@pytest.mark.parametrize("title", ['CIRV" onload="alert(1)', "CIRV' x='1", "A & <B> \"C\""])
def test_the_consort_diagram_is_well_formed_whatever_the_trial_is_called(title):
    """Found by review: the title went into aria-label="..." escaped for
    text only, so a name holding a double quote made the SVG invalid XML,
    and 'X" onload="alert(1)' gave it an attribute that ran when the saved
    file was opened."""
    import xml.etree.ElementTree as ElementTree

    flow = consort.Flow(referred=1, triaged=1, awaiting_decision=0, ineligible=0,
                        randomised=1, treatment=1, control=0, treatment_in_error=0,
                        control_in_error=0, treatment_engaged_ever=0, treatment_exited=0,
                        control_deviations=0)
    root = ElementTree.fromstring(consort.svg(flow, title=title))  # noqa: S314  (our own output)
    assert set(root.attrib) == {"viewBox", "role", "aria-label", "font-family"}
    assert root.attrib["aria-label"] == f"{title}: CONSORT flow diagram"
    assert root.find("{http://www.w3.org/2000/svg}text").text == title


def _table_equations(n_rows: int, n_cols: int) -> list[dict[int, int]]:
    """A table's lines as ``privacy.suppress_linked`` takes them: figure
    r * (n_cols + 1) + c, the totals last in each row and in the last row."""
    def at(r, c):
        return r * (n_cols + 1) + c
    return ([{at(r, c): 1 for c in range(n_cols)} | {at(r, n_cols): -1}
             for r in range(n_rows + 1)]
            + [{at(r, c): 1 for r in range(n_rows)} | {at(n_rows, c): -1}
               for c in range(n_cols + 1)])


@settings(max_examples=300, deadline=None)
@given(tables)
def test_linked_suppression_agrees_with_the_independent_check(table):
    """``privacy.determined`` on a table's figures finds what the check
    above (fractions, written apart) finds; and ``suppress_linked`` leaves
    nothing that check can work back."""
    n_rows, n_cols = len(table), len(table[0])
    full = [[*row, sum(row)] for row in table] + [
        [*map(sum, zip(*table, strict=True)), sum(map(sum, table))]]
    values = [v for row in full for v in row]
    equations = _table_equations(n_rows, n_cols)
    primary = {i for i, v in enumerate(values) if 0 < v < 5}

    def as_table(hidden):
        shown = [None if i in hidden else v for i, v in enumerate(values)]
        rows_ = [shown[r * (n_cols + 1):(r + 1) * (n_cols + 1)] for r in range(n_rows + 1)]
        return ([row[:-1] for row in rows_[:-1]], [row[-1] for row in rows_[:-1]],
                rows_[-1][:-1], rows_[-1][-1])

    def cell(i):
        r, c = divmod(i, n_cols + 1)
        return (-1 if r == n_rows else r, -1 if c == n_cols else c)

    assert {cell(i) for i in privacy.determined(primary, equations)} == determined(
        *as_table(primary))
    final = privacy.suppress_linked(values, equations, primary)
    assert primary <= final and determined(*as_table(final)) == set()


def test_figures_beside_a_table_are_suppressed_with_it():
    """A figure beside a table equal to its total (a CONSORT arm's count
    beside the site-by-arm table) is one more line: shown exactly, it gave
    back the cells the table hid; linked, enough is hidden that none is."""
    table = [[1, 2], [3, 30]]             # sites by arm
    n_rows, n_cols = 2, 2
    full = [[*row, sum(row)] for row in table] + [[4, 32, 36]]
    values = [v for row in full for v in row] + [4, 32, 36]   # treatment, control, all
    equations = [*_table_equations(n_rows, n_cols),
                 {6: 1, 9: -1}, {7: 1, 10: -1}, {8: 1, 11: -1}]
    cells, rows_, cols, total = privacy.suppress(table)
    alone = {i for i, v in enumerate(chain.from_iterable(
        [*([*c, t] for c, t in zip(cells, rows_, strict=True)), [*cols, total]])) if v is None}
    assert privacy.determined(alone, _table_equations(2, 2)) == set()  # safe alone
    assert privacy.determined(alone, equations)           # beside the exact flow, not
    beside = alone | {9}                                  # the flow's 4 hidden, 32 shown
    assert privacy.determined(beside, equations)          # 32 still gives them back
    final = privacy.suppress_linked(values, equations, beside, spare=range(9))
    assert privacy.determined(final, equations) == set()
    assert 10 in final                                    # the flow's control count


def test_a_figure_known_to_be_zero_is_shown_and_protects_nothing():
    """A cell the protocol makes zero (the control arm on a pathway) is
    known to anyone: hidden, it hid nothing, and the cells beside it were
    given back by the rest; ``known``, it is shown and never chosen to hide,
    and others are hidden in its place."""
    table = [[0, 3], [12, 20]]            # control on a pathway, control on none
    values = [*table[0], 3, *table[1], 32, 12, 23, 35]
    equations = [*_table_equations(2, 2), {0: 1}]
    hidden = {0, 1}                       # the 3, and the zero beside it
    assert privacy.determined(hidden, equations) == {0, 1}
    final = privacy.suppress_linked(values, equations, hidden, known={0})
    assert 0 not in final and 1 in final
    assert privacy.determined(final, equations) == set()


def test_the_consort_relations_hold_of_its_figures():
    """``consort.equations`` (what the aggregates page's suppression takes a
    reader to know) are true of the figures the diagram shows."""
    flow = consort.Flow(referred=120, triaged=100, awaiting_decision=7, ineligible=40,
                        randomised=53, treatment=27, control=26, treatment_in_error=1,
                        control_in_error=0, treatment_engaged_ever=15, treatment_exited=9,
                        control_deviations=2, treatment_pathways={"Engaged": 15},
                        treatment_completed=4, treatment_lost={"Moved away": 3, "Withdrew": 2},
                        closed_before_triage=6, closed_reasons={"Duplicate": 5, "Other": 4})
    values = consort.figures(flow) | {name: getattr(flow, name) for name in consort.UNSHOWN}
    assert values["treatment_lost_or_withdrawn"] == 5 and values["not_triaged"] == 14
    for relation in consort.equations(flow):
        assert sum(weight * values[name] for name, weight in relation.items()) == 0, relation
    shown = {name: "*" for name in consort.figures(flow)}
    drawn = " ".join(line for box in consort.boxes(flow, shown).in_order() for line in box)
    assert "Referred: *" in drawn and not any(ch.isdigit() for ch in drawn)
