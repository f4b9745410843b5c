"""The "as of" and "as known at" picker: what a browser's date-time field sends, read as the
API reads a cut (a time in UTC, a bare date, or `pos:N` for known_at)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


def as_cut_text(value: str | None) -> str | None:
    """A picker's value as a cut parameter: `2020-03-05T10:00` (a datetime-local field, no zone)
    is read as UTC, as the picker's label says; anything else goes to the view as typed."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if _LOCAL.match(value):
        return value + ("Z" if value.count(":") == 2 else ":00Z")
    return value


@dataclass(frozen=True)
class Picked:
    """The cut a page was asked for, as typed (to fill the picker again) and as the views read it."""

    as_of: str | None = None
    known_at: str | None = None

    @property
    def now(self) -> bool:
        return self.as_of is None and self.known_at is None

    @property
    def params(self) -> dict[str, str | None]:
        return {"as_of": as_cut_text(self.as_of), "known_at": as_cut_text(self.known_at)}

    def query(self) -> str:
        """`?as_of=...&known_at=...` to keep the cut on links between pages ("" for now)."""
        kept = {k: v for k, v in (("as_of", self.as_of), ("known_at", self.known_at)) if v}
        return "?" + urlencode(kept) if kept else ""

    def picker(self, name: str) -> str:
        """The value for a datetime-local field: the typed text without its zone."""
        value = getattr(self, name) or ""
        return value.removesuffix("Z")[:16] if _LOCAL.match(value.removesuffix("Z")[:16]) else value


def picked(as_of: str | None, known_at: str | None) -> Picked:
    return Picked(
        as_of.strip() if as_of and as_of.strip() else None, known_at.strip() if known_at and known_at.strip() else None
    )
