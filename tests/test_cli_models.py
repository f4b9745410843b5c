"""`supply-ledger models list|show` and the replay's sectors, on both backends
(the world and its figures: tests/model_world.py)."""

from __future__ import annotations

from api_helpers import created, production_logging  # noqa: F401 - an autouse fixture
from model_world import MODEL, ask, define, world
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def cells(out: str, first: str) -> list[str]:
    row = next(line for line in out.splitlines() if line.startswith("│") and line.split("│")[1].strip() == first)
    return [cell.strip() for cell in row.split("│")[1:-1]]


def test_models_list_and_show_every_version(api, database_url):  # type: ignore[no-untyped-def]
    world(api)
    empty = runner.invoke(app, ["models", "list", "--database", database_url])
    assert empty.exit_code == 0 and "No distribution models." in empty.output
    define(api)
    define(api, specialist="0.6", primary="0.3", note="day 2")
    listed = runner.invoke(app, ["models", "list", "--database", database_url])
    assert listed.exit_code == 0, listed.output
    assert cells(listed.output, MODEL)[:6] == [
        MODEL,
        "2 of 2",
        "specialist 0.6, primary 0.3",
        "0.1",
        "proportional_to_population",
        "no",
    ]
    shown = runner.invoke(app, ["models", "show", MODEL, "--version", "1", "--database", database_url])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith(f"model:{MODEL}@1: version 1 of 2")
    assert cells(shown.output, "specialist") == ["specialist", "regional, hospital", "0.7"]
    assert cells(shown.output, "primary") == ["primary", "municipal", "0.2"]
    assert cells(shown.output, "reserve (kept at the source)") == ["reserve (kept at the source)", "", "0.1"]
    missing = runner.invoke(app, ["models", "show", MODEL, "--version", "3", "--database", database_url])
    assert missing.exit_code == 2 and f"no version 3 of distribution model {MODEL}" in missing.output


def test_the_replay_prints_the_sectors_and_the_reserve(api, database_url):  # type: ignore[no-untyped-def]
    world(api)
    define(api)
    allocation = created(api.post("/v1/allocations", ask()))["allocation_id"]
    define(api, specialist="0.6", primary="0.3")
    result = runner.invoke(app, ["replay", "allocation", allocation, "--database", database_url])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Allocation {allocation}: 900 FFP2 from NAT by model:{MODEL}@1" in out
    assert f"Sectors under model:{MODEL}@1 (known then)" in out
    assert cells(out, "specialist") == ["specialist", "0.7", "700", "H-NORTH, H-SOUTH"]
    assert cells(out, "primary") == ["primary", "0.2", "200", "M-ALBY, M-BRO"]
    assert cells(out, "reserve") == ["reserve", "", "100", "kept at the source"]
    assert (
        f"Under the current version model:{MODEL}@2, with everything known now: H-NORTH (specialist) 400, "
        "H-SOUTH (specialist) 200, M-ALBY (primary) 185, M-BRO (primary) 115; reserve 100"
    ) in out
