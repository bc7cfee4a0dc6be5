"""The cohort report's chart: meeting rate per check-in round and safety per feedback round, as a small PNG."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from conversations.reports import KIND_WORDS, NOT_ENOUGH, CohortReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH_PX, HEIGHT_PX, DPI = 1000, 460, 100  # readable in a chat pane, small enough to send
MET_COLOUR = "#2f6db5"
SAFETY_COLOUR = "#2e8b57"
BELOW_COLOUR = "#d9822b"
GAP_COLOUR = "#9a9a9a"
PALETTE_COLOURS = 64  # a chart has few colours: a palette PNG is a third of the size of a full-colour one


def render_chart(report: CohortReport) -> bytes:
    """A PNG (headless Agg, no pyplot state) people would rather look at than read the numbers.

    Hidden feedback groups are drawn as an empty, hatched bar labelled "not enough answers yet": a gap
    shown honestly rather than a missing round or a zero.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # loaded only when a chart is drawn
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(f"{report.cohort.name}: meetings and psychological safety", fontsize=14, fontweight="bold")
    met_axes, safety_axes = figure.subplots(1, 2)
    _meetings(met_axes, report)
    _safety(safety_axes, report)
    raw = io.BytesIO()
    figure.savefig(raw, format="png", dpi=DPI, facecolor="white")
    return _palette(raw.getvalue())


def _meetings(ax: Axes, report: CohortReport) -> None:
    rounds = report.meetings.by_round
    ax.set_title("Did pairs meet? (check-ins answered yes)", fontsize=11)
    ax.set_ylim(0, 110)
    ax.set_ylabel("% of check-ins sent")
    ax.spines[["top", "right"]].set_visible(False)
    if not rounds:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "No check-ins sent yet", ha="center", va="center",
                transform=ax.transAxes, color=GAP_COLOUR, fontsize=12)
        return
    xs = list(range(len(rounds)))
    rates = [100 * met / sent for _, sent, met in rounds]
    ax.bar(xs, rates, color=MET_COLOUR, width=0.6)
    for x, rate, (_, sent, met) in zip(xs, rates, rounds, strict=True):
        ax.text(x, rate + 2, f"{rate:.0f}%\n{met}/{sent}", ha="center", va="bottom",
                fontsize=8)
    ax.set_xticks(xs, [str(r) for r, _, _ in rounds])
    ax.set_xlabel("check-in round")


def _safety(ax: Axes, report: CohortReport) -> None:
    ax.set_title(f"Psychological safety, everyone (1-5, groups of {report.k}+)", fontsize=11)
    ax.set_ylim(0, 5.6)
    ax.set_ylabel("average of the three safety items")
    ax.spines[["top", "right"]].set_visible(False)
    if not report.rounds:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "No feedback round has closed yet", ha="center", va="center",
                transform=ax.transAxes, color=GAP_COLOUR, fontsize=12)
        return
    target = report.safety_target
    labels: list[str] = []
    for x, r in enumerate(report.rounds):
        labels.append(f"round {r.number}\n{KIND_WORDS.get(r.kind, r.kind)}")
        group = r.group("all")
        if group.shown and group.safety is not None:
            colour = BELOW_COLOUR if target is not None and group.safety < target else SAFETY_COLOUR
            ax.bar(x, group.safety, color=colour, width=0.6)
            ax.text(x, group.safety + 0.08, f"{group.safety:.1f}\n{group.answers} answers",
                    ha="center", va="bottom", fontsize=8)
        else:
            ax.bar(x, 5, width=0.6, fill=False, hatch="//", edgecolor=GAP_COLOUR)
            ax.text(x, 2.5, NOT_ENOUGH.replace(" answers ", "\nanswers "),
                    ha="center", va="center", fontsize=8, color="#555555",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 2})
    if target is not None:
        ax.axhline(target, color=BELOW_COLOUR, linestyle="--", linewidth=1)
        ax.text(len(report.rounds) - 0.5, target + 0.05, f"target {target:.1f}",
                ha="right", va="bottom", fontsize=8, color=BELOW_COLOUR)
    ax.set_xticks(list(range(len(labels))), labels)
    ax.set_xlim(-0.7, max(len(labels), 2) - 0.3)


def _palette(png: bytes) -> bytes:
    """The same picture with an adaptive palette: a few dozen colours are all a chart uses."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        small = image.convert("RGB").quantize(colors=PALETTE_COLOURS)
        out = io.BytesIO()
        small.save(out, format="PNG", optimize=True)
    return out.getvalue()
