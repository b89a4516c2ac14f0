"""Charts drawn on the server as SVG with pygal, so pages work without
JavaScript; every chart is shown beside a table with the same figures."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

import pygal
from markupsafe import Markup
from pygal.style import Style

_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)

# GOV.UK colours: blue bars, black text, mid-grey guides.
STYLE = Style(
    background="transparent", plot_background="transparent", foreground="#0b0c0c",
    foreground_strong="#0b0c0c", foreground_subtle="#b1b4b6", colors=("#1d70b8",),
    font_family='"GDS Transport", arial, sans-serif', label_font_size=12,
    major_label_font_size=12, title_font_size=16,
)


def _inline(svg: str, *, label: str, nonce: str) -> Markup:
    """An SVG for the page: no scripts, its style carrying the page's CSP
    nonce, and a role and label for assistive technology (the table beside
    it has the figures)."""
    svg = _SCRIPT.sub("", svg)
    svg = svg.replace("<style", f'<style nonce="{nonce}"')
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{Markup.escape(label)}" ', 1)
    # pygal output from our own numbers and date labels, which pygal escapes.
    return Markup(svg)  # noqa: S704  # nosec B704


def referrals_per_week(weeks: list[tuple[date, int]], *, nonce: str) -> Markup:
    labels = tuple(monday.strftime("%-d %b") for monday, _ in weeks)
    counts = tuple(count for _, count in weeks)
    return _inline(_bar_chart(labels, counts),
                   label=f"Bar chart of referrals per week over {len(weeks)} weeks, "
                         f"{sum(counts)} in all; the table below gives each week",
                   nonce=nonce)


@lru_cache(maxsize=128)
def _bar_chart(labels: tuple[str, ...], counts: tuple[int, ...]) -> str:
    """The SVG of weekly counts. Drawing it was most of the dashboard's time,
    and the figures change far less often than the page is opened, so the
    drawings of the latest figures are kept (counts and week labels only,
    nothing about a person; the page's nonce is added per request)."""
    chart = pygal.Bar(
        style=STYLE, js=[], disable_xml_declaration=True, show_legend=False, width=900,
        height=320, x_label_rotation=-45, show_minor_x_labels=False, print_values=False,
        explicit_size=False, margin=10, y_title="Referrals", title=None,
    )
    chart.x_labels = list(labels)
    chart.x_labels_major = chart.x_labels[::4]
    chart.add("Referrals", list(counts))
    # Its one non-ASCII character (pygal's © in a comment) as a reference,
    # so the pages it is drawn on stay plain ASCII.
    return chart.render(is_unicode=True).encode("ascii", "xmlcharrefreplace").decode("ascii")
