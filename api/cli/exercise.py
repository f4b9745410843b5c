"""`supply-ledger exercise review CODE`: the after-action review in a terminal, as JSON, or as
the same self-contained HTML report the API serves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.options import DatabaseOption, JsonOption, opened, table
from domain.distribution import model_reference
from domain.policies import POLICIES
from replay.exercise_report import exercise_review_html
from replay.exercise_review import review
from replay.measures import lowest_days_of_supply
from replay.review_model import ExerciseReview, Measures

app = typer.Typer(help="Crisis exercises: after-action review.", no_args_is_help=True)


@app.command("review")
def review_command(
    code: Annotated[str, typer.Argument(help="The exercise code")],
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the report with its charts as a self-contained HTML page")
    ] = None,
    policy: Annotated[
        str,
        typer.Option("--policy", help=f"Counterfactual policy: {', '.join(POLICIES)}, model:NAME[@VERSION], or none"),
    ] = "equal_days_of_supply",
    json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Stockouts, days of supply, latencies, fill rate, losses and departures, as played and had POLICY decided."""
    if policy != "none" and policy not in POLICIES and model_reference(policy) is None:
        raise typer.BadParameter(
            f"unknown policy {policy!r}: one of {', '.join(POLICIES)}, model:NAME[@VERSION] or none",
            param_hint="--policy",
        )
    with opened(database) as stores:
        result = review(stores.exercises, code, None if policy == "none" else policy)
    if html is not None:
        html.write_text(exercise_review_html(result), encoding="utf-8")
    if json:
        typer.echo(result.model_dump_json(indent=2))
        return
    _print(result)
    if html is not None:
        typer.echo(f"\nReport written to {html}")


def _print(result: ExerciseReview) -> None:
    o = result.overview
    typer.echo(
        f"Exercise {o.code} ({o.name}), {o.status}: {o.simulated_days} simulated days from "
        f"{o.scenario_start:%Y-%m-%d %H:%M} UTC, clock at {o.scenario_clock:%Y-%m-%d %H:%M} UTC; "
        f"{o.injects_applied} of {o.injects} injects applied, {o.deliveries_failed} deliveries failed"
    )
    columns = [("as played", result.measures)]
    if result.counterfactual is not None:
        columns.append((f"had {result.counterfactual.policy}", result.counterfactual.measures))
    table("Key measures", ["measure", *(name for name, _ in columns)], _rows([m for _, m in columns]))
    if result.counterfactual is not None:
        typer.echo(result.counterfactual.summary)
    if result.measures.stockouts:
        table(
            "Stockouts",
            ["depot", "item", "start", "end", "days", "unmet"],
            [
                [
                    s.depot,
                    s.item,
                    f"{s.start:%Y-%m-%d}",
                    f"{s.end:%Y-%m-%d}" + (" (ongoing)" if s.ongoing else ""),
                    s.days,
                    s.unmet,
                ]
                for s in result.measures.stockouts
            ],
        )
    for d in result.measures.departures:
        typer.echo(
            f"Departure {d.allocation_id} ({d.item} from {d.source}): "
            f"recommended {d.recommended}, chose {d.chosen}: {d.rationale}"
        )
    for item in result.improvement_plan:
        typer.echo(f"Improve [{item.rating}] {item.capability}: {item.observation} -> {item.recommendation}")


def _rows(measures: list[Measures]) -> list[list[object]]:
    def hours(value: float | None) -> object:
        return "–" if value is None else value

    return [
        ["stockout depot-days", *(m.stockout_depot_days for m in measures)],
        ["lowest regional days of supply", *(hours(lowest_days_of_supply(m)) for m in measures)],
        ["request to allocation, median h", *(hours(m.request_to_allocation.median_hours) for m in measures)],
        ["request to allocation, worst h", *(hours(m.request_to_allocation.worst_hours) for m in measures)],
        ["dispatch to receipt, median h", *(hours(m.dispatch_to_receipt.median_hours) for m in measures)],
        ["dispatch to receipt, worst h", *(hours(m.dispatch_to_receipt.worst_hours) for m in measures)],
        ["fill rate", *(hours(m.fill_rate.rate) for m in measures)],
        ["losses in transit", *(m.losses_in_transit for m in measures)],
        ["decisions / departures", *(f"{m.decisions} / {len(m.departures)}" for m in measures)],
    ]
