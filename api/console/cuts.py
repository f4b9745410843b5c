"""The "as of" and "as known at" picker: what a browser's date-time field sends, read as the
API reads a cut (a time in UTC, a bare date, or `pos:N` for known_at)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Protocol
from urllib.parse import urlencode

from projections.cut import BadCut, Cut

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
    problems: tuple[tuple[str, str], ...] = ()  # (parameter, the refusal's words) of a cut the views refused

    @property
    def now(self) -> bool:
        """A refused cut is drawn at now: the page stays usable while the picker says what was wrong."""
        return (self.as_of is None and self.known_at is None) or bool(self.problems)

    @property
    def params(self) -> dict[str, str | None]:
        if self.problems:
            return {"as_of": None, "known_at": None}
        return {"as_of": as_cut_text(self.as_of), "known_at": as_cut_text(self.known_at)}

    def problem(self, name: str) -> str | None:
        """The refusal's words about the picker's field `name` (a problem naming another
        parameter, e.g. a range, is shown on the first field)."""
        found = dict(self.problems)
        if name in found:
            return found[name]
        others = [words for parameter, words in self.problems if parameter not in ("as_of", "known_at")]
        return "; ".join(others) if name == "as_of" and others else None

    def query(self) -> str:
        """`?as_of=...&known_at=...` to keep the cut on links between pages ("" for now or a refused cut)."""
        if self.problems:
            return ""
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


class Cuts(Protocol):
    def cut(self, as_of: str | None, known_at: str | None) -> Cut: ...


def checked(views: Cuts, as_of: str | None, known_at: str | None) -> Picked:
    """The cut asked for, resolved by the views as every figure of the page will be; refused
    (`BadCut`: not a time, in the future, beyond the ledger or the exercise's clock), the cut as
    typed with the refusal's words per parameter, and the page drawn at now."""
    cut = picked(as_of, known_at)
    try:
        views.cut(cut.params["as_of"], cut.params["known_at"])
    except BadCut as refused:
        words = tuple((str(error["loc"][-1]), str(error["msg"])) for error in refused.extra.get("errors") or [])
        return replace(cut, problems=words or (("as_of", refused.detail),))
    return cut
