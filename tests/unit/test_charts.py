"""The dashboard's chart: drawn once per set of figures, with each page's own
CSP nonce."""

from __future__ import annotations

from datetime import date, timedelta

from casework.caseload import charts

WEEKS = [(date(2026, 6, 1) + timedelta(weeks=n), n % 5) for n in range(26)]


def test_the_same_figures_are_drawn_once_and_carry_each_pages_nonce():
    charts._bar_chart.cache_clear()
    first = charts.referrals_per_week(WEEKS, nonce="nonce-one")
    second = charts.referrals_per_week(WEEKS, nonce="nonce-two")
    assert charts._bar_chart.cache_info().hits == 1
    assert 'nonce="nonce-one"' in first and "nonce-two" not in first
    assert 'nonce="nonce-two"' in second and "nonce-one" not in second
    assert "<script" not in second
    assert second.replace("nonce-two", "nonce-one") == first


def test_other_figures_are_drawn_afresh():
    changed = [(monday, count + (1 if n == 3 else 0)) for n, (monday, count) in enumerate(WEEKS)]
    before = charts.referrals_per_week(WEEKS, nonce="n")
    after = charts.referrals_per_week(changed, nonce="n")
    assert before != after
    assert "51 in all" in after and "50 in all" in before


def test_the_drawing_is_plain_ascii():
    """A page that is ASCII throughout is kept and encoded byte for byte;
    pygal writes a © in its comment."""
    drawn = charts.referrals_per_week(WEEKS, nonce="n")
    assert drawn.isascii() and "&#169;Kozea" in drawn
