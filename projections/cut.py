"""Where a view cuts the ledger: business time `as_of` and knowledge `known_at` (API.md, "Views").

`as_of` is a time with an offset, or a bare date meaning the end of that UTC day.
`known_at` is the same, or a ledger position `pos:N`. Both are checked here so every
surface (HTTP, CLI) refuses the same bad values with the same words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from domain.commands import EARLIEST_YEAR, LATEST_YEAR
from domain.exceptions import InvalidCommand
from ledger import clock

_POSITION = re.compile(r"^pos:(\d{1,18})$")
END_OF_DAY = time(23, 59, 59, 999999, tzinfo=UTC)


class BadCut(InvalidCommand):
    title = "Invalid view parameter"

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(
            f"{parameter}: {message}",
            errors=[{"loc": ["query", parameter], "msg": message, "type": "invalid_view_parameter"}],
        )


@dataclass(frozen=True)
class Cut:
    """A resolved cut: `as_of` None means "now, with everything recorded"; the ledger is read
    up to `known_position` (every event recorded at or before `known_at`)."""

    as_of: datetime | None
    known_position: int
    known_at: datetime | None
    asked_at: datetime

    @property
    def business_time(self) -> datetime:
        """The instant the consumption window and expiry are measured at."""
        return self.as_of if self.as_of is not None else self.asked_at

    def describe(self) -> dict[str, object]:
        return {
            "as_of": clock.utc_text(self.business_time),
            "known_at": clock.utc_text(self.known_at or self.asked_at),
            "position": self.known_position,
        }


def parse_instant(text: str, parameter: str, now: datetime) -> datetime:
    """An aware instant no later than the tolerance ahead of `now` (a bare date up to today)."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            _check_year(day, text, parameter)
            if day > now.astimezone(UTC).date():
                raise BadCut(parameter, f"{text} is in the future")
            return datetime.combine(day, END_OF_DAY)
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+", 1) if "T" in text else text)
    except ValueError:
        raise BadCut(parameter, f"{text!r} is not an ISO 8601 date or time with offset") from None
    if value.tzinfo is None:
        raise BadCut(parameter, f"{text!r} has no UTC offset (e.g. 2020-03-05T10:00:00+01:00)")
    _check_year(value, text, parameter)
    if value > now + clock.FUTURE_TOLERANCE:
        raise BadCut(parameter, f"{text} is in the future")
    return value.astimezone(UTC)


def _check_year(value: date, text: str, parameter: str) -> None:
    """Dates and times alike stay within the years commands accept, so no range arithmetic overflows."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise BadCut(parameter, f"{text!r} is out of range: years {EARLIEST_YEAR}-{LATEST_YEAR}")


def parse_position(text: str, parameter: str, latest: int) -> int | None:
    match = _POSITION.match(text.strip())
    if match is None:
        return None
    position = int(match.group(1))
    if position > latest:
        raise BadCut(parameter, f"position {position} is beyond the ledger's latest position {latest}")
    return position


def check_range(start: datetime | None, end: datetime | None, names: tuple[str, str]) -> None:
    if start is not None and end is not None and start > end:
        raise BadCut(names[0], f"{names[0]} is after {names[1]}")


def time_range(
    start: str | None, end: str | None, now: datetime, names: tuple[str, str] = ("from", "to")
) -> tuple[datetime | None, datetime | None]:
    """A range of times; a bare date starts at its midnight when it opens the range, ends at its last instant
    when it closes it."""
    first = parse_instant(start, names[0], now) if start else None
    if first is not None and start is not None and len(start.strip()) == 10:
        first -= timedelta(days=1) - timedelta(microseconds=1)
    last = parse_instant(end, names[1], now) if end else None
    check_range(first, last, names)
    return first, last


def day_end(day: date) -> datetime:
    return datetime.combine(day, END_OF_DAY)
