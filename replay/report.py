"""Reports an auditor reads without any tool: self-contained HTML (inline CSS and SVG, no
scripts, nothing fetched), rendered on the server from the same models as the JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ledger.clock import utc_text
from replay.decisions import AllocationReplay

TEMPLATES = Path(__file__).with_name("templates")


def environment() -> Environment:
    """The pages' template environment: autoescaped, and times shown in UTC as the API gives them."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["utc"] = lambda value: "" if value is None else utc_text(value)
    env.filters["units"] = lambda value: "" if value is None else units_text(value)
    return env


def units_text(value: int) -> str:
    """Units with thin spaces between thousands, as the pages print quantities."""
    return f"{value:,}".replace(",", "\u202f")


_environment = environment()
_environment.filters["days"] = lambda value: "no consumption" if value is None else f"{value:.1f}"


def days_chart(inputs: list[Any], width: int = 420, bar: int = 14) -> dict[str, Any]:
    """Bars of days of supply before and after the lines, on one scale per picture."""
    top = max([1.0, *(abs(i.days_of_supply or 0) for i in inputs), *(abs(i.days_of_supply_after or 0) for i in inputs)])
    label = 130
    scale = (width - label - 60) / top
    rows = []
    for n, i in enumerate(inputs):
        y = n * (2 * bar + 10)
        rows.append(
            {
                "depot": i.depot,
                "y": y,
                "before": max(0.0, (i.days_of_supply or 0) * scale),
                "after": max(0.0, (i.days_of_supply_after or 0) * scale),
                "before_text": "–" if i.days_of_supply is None else f"{i.days_of_supply:.1f}",
                "after_text": "–" if i.days_of_supply_after is None else f"{i.days_of_supply_after:.1f}",
            }
        )
    return {"rows": rows, "label": label, "bar": bar, "width": width, "height": max(1, len(rows)) * (2 * bar + 10)}


def allocation_replay_html(replay: AllocationReplay) -> str:
    return _environment.get_template("allocation_replay.html").render(
        r=replay,
        a=replay.allocation,
        then_chart=days_chart(replay.known_then.inputs),
        now_chart=days_chart(replay.hindsight.inputs),
    )
