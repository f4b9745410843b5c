#!/usr/bin/env python3
"""Cost of running an exercise on the demo: forking it, advancing the sample scenario's
three weeks, and computing the after-action review, against the regional stock view of the
live ledger at the fork (the baseline) timed in the same process.

One run: the demo (16 depots, about 4,100 events) loaded into a temporary SQLite file, or
into a fresh schema on `--postgres URL` (dropped afterwards); then `--runs` exercises, each:

- baseline: `GET /v1/stock?as_of=<fork>&known_at=<fork>` as the service computes it;
- fork: `POST /v1/exercises` with `fork_known_at` (reads 16 depots, writes the opening);
- advance: the sample scenario (scenarios/spring-2020-ppe-surge.yaml) loaded and the clock
  advanced 21 days in one call (27 injects, 21 simulated days for every forked depot and item);
- review: `GET …/review` (played run read back, counterfactual by equal days of supply),
  computed, as the first reader after a change gets it;
- review again: the same review asked again, unchanged exercise (kept in this process);
- review, other worker: the same asked through a second `Stores` on the same database, as
  another worker of `serve --workers 2` would (read from the stored reviews);
- review.html: the page, from the kept review plus the charts.

Prints the median in milliseconds of each and its ratio to the baseline's median.

    .venv/bin/python bench/exercise.py --runs 5
    .venv/bin/python bench/exercise.py --runs 5 --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scratch import scratch_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.app import Stores  # noqa: E402
from domain.exercise_commands import CreateExercise, ScheduleInjects  # noqa: E402
from ledger.clock import utc_text  # noqa: E402
from ledger.demo import load_demo  # noqa: E402
from ledger.settings import Database  # noqa: E402
from replay.exercise_report import exercise_review_html  # noqa: E402
from replay.exercise_review import review  # noqa: E402

START = datetime(2020, 4, 1, 6, tzinfo=UTC)
SCENARIO = (ROOT / "scenarios" / "spring-2020-ppe-surge.yaml").read_text()


def ms(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return (time.perf_counter() - started) * 1000, result


def run(url: str, runs: int) -> None:
    stores = Stores.open(Database(url))
    try:
        started = time.perf_counter()
        summary = load_demo(stores.ledger)
        print(f"demo: {summary.events} events loaded in {time.perf_counter() - started:.1f} s")
        fork_at = datetime.now(UTC)
        exercises = stores.exercises
        names = ("baseline", "fork", "advance", "review", "review again", "review, other worker", "review.html")
        figures: dict[str, list[float]] = {name: [] for name in names}
        other = Stores.open(Database(url))
        events = 0
        for n in range(runs):
            code = f"bench-{n}"
            figures["baseline"].append(
                ms(lambda: stores.views.stock(as_of=utc_text(fork_at), known_at=utc_text(fork_at)))[0]
            )

            def create(code: str = code) -> None:
                exercise = exercises.create(
                    CreateExercise(code=code, name="bench", scenario_start=START, fork_known_at=fork_at), "bench"
                )
                exercises.control.save(exercise)

            figures["fork"].append(ms(create)[0])

            def play(code: str = code) -> None:
                exercise, _ = exercises.schedule(code, ScheduleInjects(scenario=SCENARIO), "bench")
                exercises.control.save(exercise)
                exercise, _ = exercises.advance(code, START + timedelta(days=21), "bench")
                exercises.control.save(exercise)

            figures["advance"].append(ms(play)[0])
            events = exercises.ledger(code).position()
            figures["review"].append(ms(lambda code=code: review(exercises, code))[0])
            figures["review again"].append(ms(lambda code=code: review(exercises, code))[0])
            figures["review, other worker"].append(ms(lambda code=code: review(other.exercises, code))[0])
            figures["review.html"].append(ms(lambda code=code: exercise_review_html(review(exercises, code)))[0])
        base = statistics.median(figures["baseline"])
        print(f"exercise ledger: {events} events after the fork and 21 simulated days")
        print(f"{'':<22} {'median ms':>10} {'x baseline':>11}")
        for name, samples in figures.items():
            median = statistics.median(samples)
            print(f"{name:<22} {median:>10.1f} {median / base:>10.1f}x")
        other.close()
    finally:
        stores.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", help="server URL; a scratch database is created and dropped")
    args = parser.parse_args()
    print(f"{platform.node()} {platform.processor() or platform.machine()} python {platform.python_version()}")
    if args.postgres:
        with scratch_database(args.postgres, prefix="bench_exercise") as url:
            run(url, args.runs)
        return
    with tempfile.TemporaryDirectory() as directory:
        run(f"sqlite:///{directory}/ledger.sqlite3", args.runs)


if __name__ == "__main__":
    main()
