"""The CONSORT flow diagram of the trial, drawn as SVG from its counts.
Pure standard library."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Flow:
    referred: int               # referrals at the trial's sites
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

    @property
    def not_triaged(self) -> int:
        return self.referred - self.triaged

    @property
    def treatment_analysed(self) -> int:
        return self.treatment - self.treatment_in_error

    @property
    def control_analysed(self) -> int:
        return self.control - self.control_in_error

    def counts(self) -> dict:
        return {**asdict(self), "not_triaged": self.not_triaged,
                "treatment_analysed": self.treatment_analysed,
                "control_analysed": self.control_analysed}


def _box(x: int, y: int, w: int, lines: list[str], *, bold: bool = False) -> str:
    h = 22 + 18 * len(lines)
    heavy = ' font-weight="bold"'
    text = "".join(
        f'<text x="{x + w // 2}" y="{y + 26 + 18 * i}" text-anchor="middle" '
        f'font-size="14"{heavy if bold and i == 0 else ""}>{escape(line)}</text>'
        for i, line in enumerate(lines))
    return (f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#ffffff" '
            f'stroke="#0b0c0c" stroke-width="2"/>{text}')


def _arrow(x1: int, y1: int, x2: int, y2: int) -> str:
    return (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#0b0c0c" '
            f'stroke-width="2" marker-end="url(#arrow)"/>')


def svg(flow: Flow, *, title: str) -> str:
    """The diagram: enrolment, allocation, follow-up and analysis."""
    parts = [
        '<defs><marker id="arrow" markerWidth="10" markerHeight="10" refX="9" refY="3" '
        'orient="auto"><path d="M0,0 L0,6 L9,3 z" fill="#0b0c0c"/></marker></defs>',
        f'<text x="450" y="28" text-anchor="middle" font-size="18" font-weight="bold">'
        f'{escape(title)}</text>',
        _box(300, 50, 300, ["Enrolment", f"Referred: {flow.referred}",
                            f"Assessed for eligibility: {flow.triaged}"], bold=True),
        _arrow(600, 90, 640, 90),
        _box(640, 50, 250, ["Excluded", f"Ineligible: {flow.ineligible}",
                            f"Awaiting a decision: {flow.awaiting_decision}",
                            f"Not yet triaged: {flow.not_triaged}"], bold=True),
        _arrow(450, 112, 450, 160),
        _box(300, 160, 300, ["Randomised", f"{flow.randomised}"], bold=True),
        _arrow(400, 218, 225, 260), _arrow(500, 218, 675, 260),
        _box(75, 260, 300, ["Allocated to treatment", f"{flow.treatment}",
                            f"Engaged at some point: {flow.treatment_engaged_ever}"], bold=True),
        _box(525, 260, 300, ["Allocated to control", f"{flow.control}",
                             f"Protocol deviations: {flow.control_deviations}"], bold=True),
        _arrow(225, 336, 225, 380), _arrow(675, 336, 675, 380),
        _box(75, 380, 300, ["Follow-up", f"Exited the programme: {flow.treatment_exited}",
                            f"Randomised in error: {flow.treatment_in_error}"], bold=True),
        _box(525, 380, 300, ["Follow-up", f"Randomised in error: {flow.control_in_error}"],
             bold=True),
        _arrow(225, 456, 225, 490), _arrow(675, 438, 675, 490),
        _box(75, 490, 300, ["Analysed", f"{flow.treatment_analysed}"], bold=True),
        _box(525, 490, 300, ["Analysed", f"{flow.control_analysed}"], bold=True),
    ]
    return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 900 560" role="img" '
            f'aria-label="{escape(title)}: CONSORT flow diagram" '
            'font-family="arial, sans-serif">' + "".join(parts) + "</svg>")
