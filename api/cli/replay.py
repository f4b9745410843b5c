"""`supply-ledger replay allocation ID`: the decision replay an auditor reads in a terminal,
or writes as the same self-contained HTML page the API serves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.options import DatabaseOption, JsonOption, opened, table
from replay.decisions import AllocationReplay, replay_allocation
from replay.report import allocation_replay_html

app = typer.Typer(help="Replay decisions: what was known then, what is known now.", no_args_is_help=True)


@app.command("allocation")
def replay_allocation_command(
    allocation_id: Annotated[str, typer.Argument(help="The allocation, e.g. A-1f2e3d4c5b6a")],
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the report as a self-contained HTML page")
    ] = None,
    json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """The decision, the inputs known then and now, the late reports between, and the findings.

    Exits 1 when the replay does not reproduce the stored recommendation."""
    with opened(database) as stores:
        replay = replay_allocation(stores.ledger, allocation_id)
    if html is not None:
        html.write_text(allocation_replay_html(replay), encoding="utf-8")
    if json:
        typer.echo(replay.model_dump_json(indent=2, by_alias=True))
    else:
        _print(replay)
        if html is not None:
            typer.echo(f"\nReport written to {html}")
    if not replay.known_then.reproduced:
        raise typer.Exit(1)


def _print(replay: AllocationReplay) -> None:
    a = replay.allocation
    then, now = replay.known_then, replay.hindsight
    typer.echo(
        f"Allocation {a.allocation_id}: {a.quantity:,} {a.item} from {a.source} by {a.policy}, "
        f"decided by {a.actor} for {a.occurred_at:%Y-%m-%d %H:%M} UTC (position {a.position}), status {a.status}"
    )
    if a.rationale:
        typer.echo(f"Rationale: {a.rationale}")
    typer.echo(
        f"Known then: the ledger up to position {then.basis_position}; "
        f"recommendation reproduced: {'yes' if then.reproduced else 'NO'}, "
        f"inputs reproduced: {'yes' if then.inputs_reproduced else 'NO'}"
    )
    if then.sectors is not None:
        _print_model(replay)
    hind = {i.depot: i for i in now.inputs}
    recommended = {line.to: line.quantity for line in then.recommendation}
    chosen = {line.to: line.quantity for line in a.lines}
    hindsight = {line.to: line.quantity for line in now.recommendation}
    table(
        "Inputs and lines: known then | known now (position " + str(now.position) + ")",
        [
            "depot",
            "on_hand then",
            "per day then",
            "days then",
            "on_hand now",
            "per day now",
            "days now",
            "recommended",
            "chosen",
            "hindsight",
        ],
        [
            [
                i.depot,
                i.on_hand,
                f"{i.avg_daily_consumption:g}",
                _days(i.days_of_supply),
                hind[i.depot].on_hand,
                f"{hind[i.depot].avg_daily_consumption:g}",
                _days(hind[i.depot].days_of_supply),
                recommended.get(i.depot, 0),
                chosen.get(i.depot, 0),
                hindsight.get(i.depot, 0),
            ]
            for i in then.inputs
        ],
    )
    if replay.late_information:
        table(
            "Late information: reports about the decision's moment recorded after its basis",
            ["position", "depot", "item", "type", "occurred_at", "recorded_at", "delay h", "delta", "after decision"],
            [
                [
                    e.position,
                    e.depot,
                    e.item,
                    e.type,
                    f"{e.occurred_at:%Y-%m-%d %H:%M}",
                    f"{e.recorded_at:%Y-%m-%d %H:%M}",
                    f"{e.delay_hours:.1f}",
                    e.delta,
                    "yes" if e.recorded_after_decision else "no",
                ]
                for e in replay.late_information
            ],
        )
    else:
        typer.echo("Late information: none")
    typer.echo("Findings:")
    for finding in replay.findings:
        typer.echo(f"- {finding}")


def _print_model(replay: AllocationReplay) -> None:
    """Under a distribution model: each sector's cut, the reserve and the requests filled first,
    known then (the decision's version) and, when revised since, under the current version."""
    then, current = replay.known_then, replay.current_model
    sectors = {line.to: line.sector for line in then.recommendation}
    rows = [[s.name, s.share, s.total, ", ".join(s.recipients) or "none: to the reserve"] for s in then.sectors or []]
    rows.append(["reserve", "", then.reserve, "kept at the source"])
    table(f"Sectors under {then.policy} (known then)", ["sector", "share", "units", "recipients"], rows)
    for fill in then.requests_filled:
        typer.echo(f"Critical request {fill.request_id} of {fill.to} filled first: {fill.quantity:,}")
    if current is not None:
        lines = ", ".join(
            f"{line.to} ({sectors.get(line.to) or 'no sector'}) {line.quantity:,}" for line in current.recommendation
        )
        typer.echo(
            f"Under the current version {current.policy}, with everything known now: {lines}; reserve {current.reserve}"
        )


def _days(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"
