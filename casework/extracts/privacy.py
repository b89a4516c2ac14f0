"""The disclosure controls behind every evaluator output (DESIGN.md
"Anonymised extracts"). Pure standard library.

- pseudonyms: HMAC-SHA256 under a key held outside the database;
- the generalisation ladder for quasi-identifiers;
- k-anonymity of a set of quasi-identifier tuples, and the suppression of
  groups too small even at the coarsest level;
- small-number suppression of cells and totals, with secondary suppression,
  so that no hidden figure can be worked back from those shown, in one
  table or across the figures of a page;
- neutralising spreadsheet formulas in CSV cells.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from math import gcd

from casework.trial.strata import AGE_BANDS

# pseudonyms


def pseudonym(key: bytes, kind: str, ident: int) -> str:
    """A stable identifier for one record under one key; without the key it
    cannot be linked back, and under another key it is unrelated."""
    return Pseudonyms(key)(kind, ident)


class Pseudonyms:
    """``pseudonym(key, kind, ident)`` for the many records of one extract:
    the key is set into an HMAC once and that state copied for each record
    (starting each HMAC from the key was most of a pseudonym's cost). The
    pseudonym is HMAC-SHA256 of "casework/pseudonym/1|kind|id", the kind's
    initial and 20 hex digits of it."""

    def __init__(self, key: bytes):
        self._keyed = hmac.new(key, digestmod="sha256")
        self._prefixes: dict[str, tuple[str, bytes]] = {}

    def __call__(self, kind: str, ident: int) -> str:
        letter, prefix = self._prefixes.get(kind) or self._prefixes.setdefault(
            kind, (kind[0].upper(), f"casework/pseudonym/1|{kind}|".encode()))
        mac = self._keyed.copy()
        mac.update(prefix + str(ident).encode())
        return letter + mac.hexdigest()[:20]


def key_id(key: bytes) -> str:
    """Names a key in the audit log without revealing it."""
    return hashlib.sha256(b"casework/key-id/1|" + key).hexdigest()[:16]


# generalisation ladder: level 0 is the most detailed an extract ever holds

LEVELS = (0, 1, 2)


def age_band(age: int | None, level: int) -> str:
    if age is None:
        return "unknown"
    if level == 0:
        bands = ((10, 13), (14, 15), (16, 17), (18, 20), (21, 24), (25, 29), (30, 39))
        for low, high in bands:
            if low <= age <= high:
                return f"{low}-{high}"
        return "40+" if age >= 40 else "under 10"
    if level == 1:
        return "under 18" if age < 18 else "18-24" if age <= 24 else "25+"
    return "under 25" if age < 25 else "25+"


def period(day: date | None, level: int) -> str:
    if day is None:
        return "unknown"
    if level == 0:
        return f"{day.year}-{day.month:02d}"
    if level == 1:
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return str(day.year)


PERIOD_NAMES = {0: "month", 1: "quarter", 2: "year"}


def starts_period(day: date, level: int) -> bool:
    """``day`` is the first of a period at ``level`` (``period``'s)."""
    return day.day == 1 and (level == 0 or (day.month - 1) % (3 if level == 1 else 12) == 0)


def ends_period(day: date, level: int) -> bool:
    """``day`` is the last of a period at ``level`` (31 December 9999 too)."""
    return day == date.max or starts_period(day + timedelta(days=1), level)


def stratum(label: str, level: int) -> str:
    """A randomisation stratum no finer than the row's age band at ``level``:
    ``coventry/14-17`` and ``coventry/18-24`` both read ``coventry/under 25``
    at level 2, where the age band does, so the stratum cannot give back the
    age that generalisation hid. Levels 0 and 1 bands are as fine as the
    strata's, and a site-only stratum is the site column again."""
    site, _, band = label.partition("/")
    if not band or level < 2:
        return label
    youngest = next((low for name, low, _ in AGE_BANDS if name == band), None)
    return f"{site}/{age_band(youngest, level) if youngest is not None else '*'}"


def ethnicity(group: str | None, level: int) -> str:
    """The five top-level ONS 2021 groups (DESIGN.md), hidden at level 2."""
    return (group or "not_stated") if level < 2 else "*"


# k-anonymity

@dataclass(frozen=True)
class KReport:
    rows: int
    classes: int
    k: int                 # the smallest class (0 for no rows)
    rows_below: int        # rows in classes smaller than ``threshold``
    threshold: int

    @property
    def meets(self) -> bool:
        return self.rows == 0 or self.k >= self.threshold


def k_anonymity(tuples: Iterable[tuple], threshold: int = 5) -> KReport:
    """k is the size of the smallest group of rows sharing every
    quasi-identifier value."""
    return k_report(Counter(tuples), threshold)


def k_report(sizes: Counter, threshold: int = 5) -> KReport:
    """The report for groups already counted (group → rows)."""
    rows = sum(sizes.values())
    small = sum(n for n in sizes.values() if n < threshold)
    return KReport(rows, len(sizes), min(sizes.values(), default=0), small, threshold)


def suppress_groups(sizes: Counter, threshold: int, hide: Callable[[tuple], tuple]
                    ) -> tuple[frozenset, Counter]:
    """Local, then record suppression, for groups still under ``threshold``
    at the coarsest level: each such group is written as ``hide`` makes it
    (its quasi-identifiers as *), and where even those hidden groups, pooled,
    hold fewer than ``threshold`` rows, their rows are left out of the file.
    Hiding values alone is not enough: a hidden group of one is still a
    group of one (the one adult among children, at a site of their own).

    Returns the groups written hidden, and the groups the file holds with
    their sizes, each at least ``threshold``: a group absent from it is left
    out."""
    written: Counter = Counter()
    for group, n in sizes.items():
        written[group if n >= threshold else hide(group)] += n
    kept = Counter({group: n for group, n in written.items() if n >= threshold})
    hidden = frozenset(group for group, n in sizes.items()
                       if n < threshold and hide(group) in kept)
    return hidden, kept


# small-number suppression

SUPPRESSED = None
SUPPRESS_BELOW = 10   # counts under 10 are hidden (DESIGN.md)
ROUND_TO = 5          # and the rest rounded to 5


def round_to(value: int, base: int = ROUND_TO) -> int:
    return base * round(value / base)


Published = tuple[list[list[int | None]], list[int | None], list[int | None], int | None]


def publish(table: list[list[int]]) -> Published:
    """A count table ready to publish: suppressed with its totals
    (``suppress``), every figure shown rounded to 5. Returns cells, row
    totals, column totals and the grand total, None where hidden."""
    cells, rows, cols, total = suppress(table)

    def shown(value: int | None) -> int | None:
        return None if value is None else round_to(value)

    return ([[shown(v) for v in row] for row in cells], [shown(v) for v in rows],
            [shown(v) for v in cols], shown(total))


def suppress(table: list[list[int]], threshold: int = SUPPRESS_BELOW) -> Published:
    """Hide counts from 1 to ``threshold - 1``, cells and totals alike
    (primary: a total of 5 tells as much as a cell of 5), then more figures
    (secondary) until no hidden one can be worked back from those shown,
    even were they published exactly. Returns the cells, row totals, column
    totals and grand total, None where hidden.

    The table with its totals is one table whose every line sums to nothing
    (each row's total, negated, at its end; each column's under it; the
    grand total in the corner). A hidden figure follows from those shown
    exactly when it is a bridge in the bipartite graph whose edges are the
    hidden figures (lines as nodes): on a cycle its value can move up and
    down around the cycle without changing any line's sum. Secondary
    suppression adds the cheapest figures that put every hidden one on a
    cycle. A one-row table is no exception: its one hidden cell takes
    another with it, and both cells' column totals (equal to them); a
    hidden total takes its line's cells or another total with it.
    """
    rows = [sum(row) for row in table]
    cols = [sum(col) for col in zip(*table, strict=True)] if table else []
    full = [[*row, total] for row, total in zip(table, rows, strict=True)] + [[*cols, sum(rows)]]
    hidden = {(r, c) for r, row in enumerate(full) for c, v in enumerate(row)
              if 0 < v < threshold}
    while bridge := next((cell for cell in sorted(hidden) if _is_bridge(cell, hidden)), None):
        hidden |= _cheapest_cycle(bridge, hidden, full)
    shown = [[SUPPRESSED if (r, c) in hidden else v for c, v in enumerate(row)]
             for r, row in enumerate(full)]
    return [row[:-1] for row in shown[:-1]], [row[-1] for row in shown[:-1]], shown[-1][:-1], \
        shown[-1][-1]


def _neighbours(hidden: set[tuple[int, int]]):
    graph: dict[tuple[str, int], set[tuple[str, int]]] = defaultdict(set)
    for r, c in hidden:
        graph[("r", r)].add(("c", c))
        graph[("c", c)].add(("r", r))
    return graph


def _is_bridge(cell: tuple[int, int], hidden: set[tuple[int, int]]) -> bool:
    """True if removing ``cell`` disconnects its row from its column."""
    graph = _neighbours(hidden - {cell})
    start, goal = ("r", cell[0]), ("c", cell[1])
    seen, stack = {start}, [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return False
        for nxt in graph[node] - seen:
            seen.add(nxt)
            stack.append(nxt)
    return True


def _cheapest_cycle(cell, hidden, full) -> set[tuple[int, int]]:
    """The extra figures that put ``cell`` on a rectangle (r, c) (r, c2)
    (r2, c2) (r2, c) with figures already hidden: the fewest zeros first (a
    hidden zero beside a total shown may be known to be zero, and then
    protects nothing), then the fewest figures, then the smallest. ``full``
    (the table with its totals) has at least two lines each way, so there
    is always one."""
    r, c = cell
    best = None
    for r2 in range(len(full)):
        for c2 in range(len(full[0])):
            if r2 == r or c2 == c:
                continue
            extra = {(r, c2), (r2, c2), (r2, c)} - hidden
            values = [full[x][y] for x, y in extra]
            cost = (values.count(0), len(extra), sum(values))
            if best is None or cost < best[0]:
                best = (cost, extra)
    return best[1]


# figures linked across tables: a page of several

# A linear relation between published figures an onlooker knows: each
# figure's value times its coefficient sums to zero (a row of a table:
# each cell 1, its total -1).
Equation = Mapping[int, int]


def determined(hidden: Collection[int], equations: Iterable[Equation]) -> set[int]:
    """The hidden figures the equations fix, given every other figure's
    value (exactly: as if shown unrounded). Those equations, in the hidden
    figures alone, bound the ways the hidden can differ from their true
    values; a figure is fixed when it cannot move in any of them: in the
    reduced row echelon form of the hidden figures' coefficients, it leads
    a row with no free figure in it. Exact: whole numbers throughout, each
    row kept divided by its greatest common divisor (no fractions)."""
    where = {figure: i for i, figure in enumerate(sorted(hidden))}
    matrix: list[dict[int, int]] = []   # each row's nonzero coefficients, by column
    for equation in equations:
        row: dict[int, int] = {}
        for figure, weight in equation.items():
            if figure in where and weight:
                row[where[figure]] = row.get(where[figure], 0) + weight
        row = {col: w for col, w in row.items() if w}
        if row:
            matrix.append(row)
    pivots: dict[int, dict[int, int]] = {}   # a pivot's column → its row
    for row in matrix:
        # reduce the row by the pivots so far, then make it a pivot and
        # clear its column from theirs
        for col, top in pivots.items():
            if row.get(col):
                row = _eliminate(row, top, col)
        if not row:
            continue
        col = min(row)
        for other, top in pivots.items():
            if top.get(col):
                pivots[other] = _eliminate(top, row, col)
        pivots[col] = row
    pivot_columns = set(pivots)
    columns = sorted(where, key=where.__getitem__)
    return {columns[col] for col, row in pivots.items() if set(row) <= pivot_columns}


def _eliminate(row: dict[int, int], top: dict[int, int], col: int) -> dict[int, int]:
    """``row`` less a multiple of ``top`` that clears ``col``, in whole
    numbers, divided by their greatest common divisor."""
    a, b = top[col], row[col]
    merged = {c: row.get(c, 0) * a - top.get(c, 0) * b for c in row.keys() | top.keys()}
    merged = {c: w for c, w in merged.items() if w}
    divisor = gcd(*merged.values()) if merged else 1
    return {c: w // divisor for c, w in merged.items()}


def suppress_linked(values: Sequence[int], equations: Sequence[Equation],
                    hidden: Iterable[int], *, unpublished: Collection[int] = (),
                    spare: Collection[int] = (),
                    known: Collection[int] = ()) -> frozenset[int]:
    """Secondary suppression across figures linked by ``equations`` (several
    tables and the figures beside them on one page): from ``hidden`` (each
    table's own suppression, and the other figures from 1 to 9), hide more
    until no hidden figure is fixed by the figures shown, were they shown
    exactly. ``unpublished`` figures are never shown (a quantity the
    equations go through); ``spare`` ones are hidden only when no other
    figure does as well (a table's, whose own suppression already holds).
    Each step hides, among the shown figures sharing an equation with the
    first figure still fixed, the one that frees it and leaves the fewest
    fixed: not a zero if it can (a zero hidden beside a total shown may be
    known to be zero, and then protects nothing), then not a spared one,
    then the smallest. ``known`` figures are shown and never hidden (their
    value is known to anyone: hiding one protects nothing). Returns the
    figures hidden (``unpublished`` among them)."""
    hidden = (set(hidden) - set(known)) | set(unpublished)
    spare = frozenset(spare)
    settled: set[int] = set(unpublished)  # fixed whatever is hidden: nothing frees them
    while fixed := sorted(determined(hidden, equations) - settled):
        first = fixed[0]
        near = {figure for equation in equations if equation.get(first)
                for figure, weight in equation.items() if weight} - hidden - set(known)
        best = None
        for figure in sorted(near):
            after = determined(hidden | {figure}, equations) - settled
            cost = (first in after, len(after), values[figure] == 0, figure in spare,
                    values[figure])
            if best is None or cost < best[0]:
                best = (cost, figure)
        if best is None:
            settled.add(first)
        else:
            hidden.add(best[1])
    return frozenset(hidden)


# CSV cells a spreadsheet would run as formulas

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cells(values: Iterable) -> list:
    """A row's cells, each text a spreadsheet would treat as a formula
    prefixed with an apostrophe (OWASP's advice); numbers and other values
    pass unchanged. A whole row at a time, without a call for every cell of
    every row of an extract."""
    return ["'" + value if isinstance(value, str) and value.startswith(_FORMULA_START)
            else value for value in values]


def csv_safe(value):
    """One cell, as ``csv_cells`` makes it."""
    return csv_cells((value,))[0]
