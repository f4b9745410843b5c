"""`supply-ledger obligations`: compliance with preparedness obligations, as `GET /v1/obligations` answers it."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.options import (
    AsOfOption,
    DatabaseOption,
    ItemOption,
    JsonOption,
    KnownAtOption,
    RegionOption,
    opened,
    table,
)


def obligations(
    organisation: Annotated[str | None, typer.Option("--organisation", help="Only depots of this organisation")] = None,
    region: RegionOption = None,
    item: ItemOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Units required and held per organisation and item, the shortfall and days covered, then each depot."""
    with opened(database) as stores:
        report = stores.views.obligations(organisation, region, item, as_of, known_at)
        if json:
            typer.echo(report.model_dump_json(indent=2))
            return
        rows: list[list[object]] = []
        for row in report.rows:
            rows.append(
                [
                    row.organisation,
                    row.item,
                    f"{row.depots} depot{'s' if row.depots != 1 else ''}",
                    "",
                    row.required,
                    row.held,
                    row.shortfall,
                    row.days_covered,
                    "yes" if row.compliant else "NO",
                ]
            )
            for line in row.lines:
                meets = {True: "yes", False: "NO", None: "unknown"}[line.meets_obligation]
                rows.append(
                    [
                        "",
                        "",
                        line.depot,
                        line.basis,
                        line.required,
                        line.held,
                        line.shortfall,
                        line.days_covered,
                        meets,
                    ]
                )
        table(
            f"Obligations as of {report.as_of}, as known at {report.known_at} (position {report.position})",
            ["organisation", "item", "depot", "basis", "required", "held", "shortfall", "days", "meets"],
            rows,
        )
