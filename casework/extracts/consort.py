"""The CONSORT flow diagram of the trial, drawn as SVG from its counts.
Pure standard library."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Flow:
    referred: int               # the trial's referrals (services._in_trial)
    triaged: int                # with triage facts recorded
    awaiting_decision: int
    ineligible: int
    randomised: int
    treatment: int
    control: int
    treatment_in_error: int
    control_in_error: int
    treatment_engaged_ever: int  # received the intervention (engaged at some point)
    treatment_exited: int
    control_deviations: int      # control people with a protocol deviation
    # Exclusions with their reasons: each criterion not met (a referral may
    # fail several) and decisions against the rules, by label.
    ineligible_reasons: dict[str, int] = field(default_factory=dict)
    # The intervention received: treated people ever on each pathway, by label.
    treatment_pathways: dict[str, int] = field(default_factory=dict)
    treatment_completed: int = 0  # exited having completed the programme
    # Lost to follow-up or withdrawn: the other exits, by reason.
    treatment_lost: dict[str, int] = field(default_factory=dict)
    # Referred again after randomisation: in the trial already, not excluded.
    rereferred_randomised: int = 0
    # Closed with no decision (withdrawn, declined, moved away...): before
    # triage, and in all (those closed in triage too) by reason, by label.
    closed_before_triage: int = 0
    closed_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def not_triaged(self) -> int:
        """Referrals neither triaged nor closed: waiting for triage."""
        return self.referred - self.triaged - self.closed_before_triage

    @property
    def closed(self) -> int:
        return sum(self.closed_reasons.values())

    @property
    def treatment_analysed(self) -> int:
        return self.treatment - self.treatment_in_error

    @property
    def control_analysed(self) -> int:
        return self.control - self.control_in_error

    def counts(self) -> dict:
        return {**asdict(self), "not_triaged": self.not_triaged, "closed": self.closed,
                "treatment_lost_or_withdrawn": sum(self.treatment_lost.values()),
                "treatment_analysed": self.treatment_analysed,
                "control_analysed": self.control_analysed}


LINE, PAD = 18, 22


# what XML 1.0 cannot hold, even escaped: C0 controls but tab, line feed and
# carriage return; surrogates; U+FFFE and U+FFFF
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escape(text: str) -> str:
    """``text`` for the SVG, between tags or in an attribute: escape() alone
    leaves quotes as they are, and a trial's name in aria-label="..." could
    close the attribute and add another (found by review). Characters XML
    cannot hold are dropped: a name stored with one (a vertical tab, an
    escape) made the whole SVG invalid (found by review); names are now
    refused with them."""
    return escape(_NOT_XML.sub("", text), {'"': "&quot;", "'": "&apos;"})


def _height(lines: list[str]) -> int:
    return PAD + LINE * len(lines)


def _box(x: int, y: int, w: int, lines: list[str], *, bold: bool = False) -> str:
    heavy = ' font-weight="bold"'
    text = "".join(
        f'<text x="{x + w // 2}" y="{y + 26 + LINE * i}" text-anchor="middle" '
        f'font-size="14"{heavy if bold and i == 0 else ""}>{_escape(line)}</text>'
        for i, line in enumerate(lines))
    return (f'<rect x="{x}" y="{y}" width="{w}" height="{_height(lines)}" fill="#ffffff" '
            f'stroke="#0b0c0c" stroke-width="2"/>{text}')


def _arrow(x1: int, y1: int, x2: int, y2: int) -> str:
    return (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#0b0c0c" '
            f'stroke-width="2" marker-end="url(#arrow)"/>')


@dataclass(frozen=True)
class Boxes:
    """The diagram's boxes, each a list of lines (its heading first)."""

    enrolment: list[str]
    excluded: list[str]
    randomised: list[str]
    treatment: list[str]
    control: list[str]
    treatment_follow_up: list[str]
    control_follow_up: list[str]
    treatment_analysed: list[str]
    control_analysed: list[str]

    def in_order(self) -> list[list[str]]:
        """The boxes as the diagram is read: down, and left before right."""
        return [self.enrolment, self.excluded, self.randomised, self.treatment, self.control,
                self.treatment_follow_up, self.control_follow_up, self.treatment_analysed,
                self.control_analysed]


def figures(flow: Flow) -> dict[str, int]:
    """Every count the diagram shows, by name (an itemised one as
    ``name:label``), in the order it shows them."""
    def itemised(name: str, counts: dict[str, int]) -> dict[str, int]:
        return {f"{name}:{label}": n for label, n in counts.items()}

    engaged = ({} if flow.treatment_pathways else
               {"treatment_engaged_ever": flow.treatment_engaged_ever})
    return {
        "referred": flow.referred, "triaged": flow.triaged, "ineligible": flow.ineligible,
        **itemised("ineligible_reasons", flow.ineligible_reasons),
        "closed": flow.closed, **itemised("closed_reasons", flow.closed_reasons),
        "awaiting_decision": flow.awaiting_decision, "not_triaged": flow.not_triaged,
        "rereferred_randomised": flow.rereferred_randomised,
        "randomised": flow.randomised, "treatment": flow.treatment, **engaged,
        **itemised("treatment_pathways", flow.treatment_pathways),
        "control": flow.control, "control_deviations": flow.control_deviations,
        "treatment_exited": flow.treatment_exited,
        "treatment_completed": flow.treatment_completed,
        "treatment_lost_or_withdrawn": sum(flow.treatment_lost.values()),
        **itemised("treatment_lost", flow.treatment_lost),
        "treatment_in_error": flow.treatment_in_error,
        "control_in_error": flow.control_in_error,
        "treatment_analysed": flow.treatment_analysed,
        "control_analysed": flow.control_analysed,
    }


# Counts the diagram's figures are made from that it does not show.
UNSHOWN = ("closed_before_triage",)


def equations(flow: Flow) -> list[dict[str, int]]:
    """What anyone reading the diagram knows of its figures (``figures``'
    names, and ``UNSHOWN``'s): the linear relations between them, each as
    coefficients summing with the figures' values to zero."""
    def total(whole: str, parts: list[str]) -> dict[str, int]:
        relation = {whole: -1}
        for part in parts:
            relation[part] = relation.get(part, 0) + 1
        return relation

    shown = figures(flow)
    return [
        total("randomised", ["treatment", "control"]),
        total("referred", ["triaged", "closed_before_triage", "not_triaged"]),
        total("closed", [name for name in shown if name.startswith("closed_reasons:")]),
        total("treatment", ["treatment_analysed", "treatment_in_error"]),
        total("control", ["control_analysed", "control_in_error"]),
        total("treatment_exited", ["treatment_completed", "treatment_lost_or_withdrawn"]),
        total("treatment_lost_or_withdrawn",
              [name for name in shown if name.startswith("treatment_lost:")]),
    ]


def boxes(flow: Flow, shown: Mapping[str, str] | None = None) -> Boxes:
    """What each box of the diagram says: enrolment, exclusions with their
    reasons, allocation, the intervention received by pathway, follow-up
    (completed, lost or withdrawn) and analysis. The page also lists them as
    text, for anyone who cannot see the drawing. ``shown``: each figure as
    it is to be written (``figures``' names; as counted if None)."""
    counts = figures(flow)
    n = (lambda name: shown[name]) if shown is not None else (lambda name: str(counts[name]))

    def itemised(name: str, labels) -> list[str]:
        return [f"{label}: {n(f'{name}:{label}')}" for label in labels]

    return Boxes(
        enrolment=["Enrolment", f"Referred: {n('referred')}",
                   f"Assessed for eligibility: {n('triaged')}"],
        excluded=["Excluded", f"Ineligible: {n('ineligible')}",
                  *itemised("ineligible_reasons", flow.ineligible_reasons),
                  f"Closed before a decision: {n('closed')}",
                  *itemised("closed_reasons", flow.closed_reasons),
                  f"Awaiting a decision: {n('awaiting_decision')}",
                  f"Not yet triaged: {n('not_triaged')}",
                  f"Referred again, already randomised: {n('rereferred_randomised')}"],
        randomised=["Randomised", n("randomised")],
        treatment=["Allocated to treatment", n("treatment"),
                   "Received the intervention:" if flow.treatment_pathways else
                   f"Engaged at some point: {n('treatment_engaged_ever')}",
                   *itemised("treatment_pathways", flow.treatment_pathways)],
        control=["Allocated to control", n("control"),
                 f"Protocol deviations: {n('control_deviations')}"],
        treatment_follow_up=["Follow-up", f"Exited the programme: {n('treatment_exited')}",
                             f"Completed: {n('treatment_completed')}",
                             f"Lost or withdrawn: {n('treatment_lost_or_withdrawn')}",
                             *itemised("treatment_lost", flow.treatment_lost),
                             f"Randomised in error: {n('treatment_in_error')}"],
        control_follow_up=["Follow-up", f"Randomised in error: {n('control_in_error')}"],
        treatment_analysed=["Analysed", n("treatment_analysed")],
        control_analysed=["Analysed", n("control_analysed")],
    )


def svg(flow: Flow, *, title: str, shown: Mapping[str, str] | None = None) -> str:
    """The diagram of ``boxes(flow, shown)``. Each row of boxes is as tall as
    its tallest."""
    b = boxes(flow, shown)
    parts = [
        '<defs><marker id="arrow" markerWidth="10" markerHeight="10" refX="9" refY="3" '
        'orient="auto"><path d="M0,0 L0,6 L9,3 z" fill="#0b0c0c"/></marker></defs>',
        f'<text x="450" y="28" text-anchor="middle" font-size="18" font-weight="bold">'
        f'{_escape(title)}</text>',
    ]
    y = 50
    parts += [_box(250, y, 300, b.enrolment, bold=True), _arrow(550, y + 40, 590, y + 40),
              _box(590, y, 305, b.excluded, bold=True)]
    below = y + max(_height(b.enrolment) + 48, _height(b.excluded) + 20)
    parts.append(_arrow(400, y + _height(b.enrolment), 400, below))
    y = below
    parts.append(_box(250, y, 300, b.randomised, bold=True))
    y += _height(b.randomised)
    parts += [_arrow(350, y, 225, y + 42), _arrow(450, y, 675, y + 42)]
    for left, right in ((b.treatment, b.control), (b.treatment_follow_up, b.control_follow_up),
                        (b.treatment_analysed, b.control_analysed)):
        y += 42
        parts += [_box(75, y, 300, left, bold=True), _box(525, y, 300, right, bold=True)]
        if left[0] != "Analysed":
            parts += [_arrow(225, y + _height(left), 225, y + _height(left) + 42),
                      _arrow(675, y + _height(right), 675, y + _height(left) + 42)]
        y += _height(left)  # the left box is the taller in every row
    height = y + 30
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 900 {height}" role="img" '
            f'aria-label="{_escape(title)}: CONSORT flow diagram" '
            'font-family="arial, sans-serif">' + "".join(parts) + "</svg>")
