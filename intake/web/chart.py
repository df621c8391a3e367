"""The overview's 90-day charts, laid out here and drawn as SVG by the template.

Two stacked bar charts of the digest's daily counts: by status, and children
or adults. Colours are GOV.UK's, each 3:1 or more against white; the page
gives the same numbers as a table too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 24, 10, 34
LABEL_EVERY = 15  # days between dates on the x axis

# (digest label, what the legend says, colour)
BY_STATUS = (("Complete", "Complete", "#00703c"),
             ("Incomplete", "Incomplete", "#912b88"),
             ("Manual review", "Manual review", "#d4351c"))
BY_AGE = (("Children", "Children", "#1d70b8"),
          ("Adults", "Adults", "#4c2c92"),
          ("Not known", "Age not known", "#505a5f"))


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    text: str
    anchor: str = "middle"  # SVG text-anchor: the last date ends at the plot's edge


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    legend: tuple[tuple[str, str], ...]  # (text, colour)
    bars: tuple[Bar, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: float = HEIGHT - BOTTOM
    right: int = WIDTH - RIGHT


def _nice_top(largest: int) -> int:
    """The y axis's top: at least 4, rounded up to a multiple of 4."""
    return max(4, int(math.ceil(largest / 4) * 4))


def _chart(ident: str, title: str, days: list[tuple[date, dict[str, int]]],
           series: tuple[tuple[str, str, str], ...]) -> Chart:
    top = _nice_top(max((sum(counts.get(key, 0) for key, _, _ in series)
                         for _, counts in days), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(days))
    bars = []
    for n, (day, counts) in enumerate(days):
        base = HEIGHT - BOTTOM
        for key, text, colour in series:
            value = counts.get(key, 0)
            if not value:
                continue
            height = plot_h * value / top
            base -= height
            bars.append(Bar(round(LEFT + n * step + step * 0.1, 2), round(base, 2),
                            round(step * 0.8, 2), round(height, 2), colour,
                            f"{day.day} {day:%b %Y}: {value} {text.lower()}"))
    y_ticks = tuple(Tick(round(HEIGHT - BOTTOM - plot_h * i / 4, 2), str(top * i // 4))
                    for i in range(5))
    x_ticks = tuple(Tick(round(LEFT + n * step + step / 2, 2), f"{day.day} {day:%b}",
                         "end" if n == len(days) - 1 else "middle")
                    for n, (day, _) in enumerate(days)
                    if (n % LABEL_EVERY == 0 and n < len(days) - LABEL_EVERY / 2)
                    or n == len(days) - 1)
    first, last = days[0][0], days[-1][0]
    description = (f"Referrals received each day from {first.day} {first:%B %Y} to "
                   f"{last.day} {last:%B %Y}, {title.lower()}. The table below gives the "
                   "same numbers.")
    return Chart(ident, title, description, tuple((text, colour) for _, text, colour in series),
                 tuple(bars), y_ticks, x_ticks)


def charts(days: list[tuple[date, dict[str, int]]]) -> list[Chart]:
    with_unknown = [(day, counts | {"Not known": max(
        0, counts.get("Received", 0) - counts.get("Children", 0) - counts.get("Adults", 0))})
        for day, counts in days]
    return [_chart("by-status", "By status", days, BY_STATUS),
            _chart("by-age", "Children and adults", with_unknown, BY_AGE)]
