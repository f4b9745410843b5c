"""The console's languages: every message a page can show is translated into Danish and
Norwegian Bokmål with the same placeholders, the language is chosen from Accept-Language,
and numbers and dates are written as each language writes them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

import api.app  # noqa: F401 - loads every module that defines a refusal
from api.console.catalogues import FIGURES, extracted, gaps, placeholders
from api.console.i18n import Formats, negotiate, translations
from domain.exceptions import LedgerError


def test_every_extracted_message_is_translated_in_danish_and_bokmal_with_its_placeholders() -> None:
    found = gaps()
    assert found == [], "\n".join(f"{g.language}: {g.msgid!r}: {g.reason}" for g in found)


def test_extraction_finds_the_templates_the_menu_and_the_python_marks() -> None:
    ids = {m.id for m in extracted()}
    assert "Sign in" in ids  # templates
    assert "Stock as of %(as_of)s, as the ledger knew it at %(known_at)s (position %(position)s)." in ids
    assert {"Dashboard", "Depots", "Exercises"} <= ids  # pages.py NAVIGATION (N_)
    assert {"operator", "coordinator", "auditor", "admin", "critical", "warning"} <= ids
    assert {"This form has expired", "Invalid request"} <= ids  # errors.py
    assert {"available", "requested"} <= ids and set(FIGURES) <= ids


def test_every_problem_title_the_service_can_show_is_in_the_catalogues() -> None:
    titles: set[str] = set()
    pending: list[type[LedgerError]] = [LedgerError]
    while pending:
        kind = pending.pop()
        titles.add(kind.title)
        pending.extend(kind.__subclasses__())
    assert len(titles) >= 25
    assert titles - {m.id for m in extracted()} == set()


def test_the_catalogues_translate_as_a_reader_sees_them() -> None:
    assert translations("da").gettext("Insufficient stock") == "Utilstrækkelig beholdning"
    assert translations("nb").gettext("Insufficient stock") == "Utilstrekkelig beholdning"
    assert translations("da").gettext("available") == "tilgængelig"
    assert translations("nb").gettext("Sign out") == "Logg ut"
    assert translations("en").gettext("Sign out") == "Sign out"
    assert placeholders("obligations met %(met)s/%(all)s") == {"met", "all"}


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("da-DK,da;q=0.9,en;q=0.8", "da"),
        ("nb-NO", "nb"),
        ("no", "nb"),
        ("nn-NO,nn;q=0.9", "nb"),
        ("fr", "en"),
        ("fr-FR,fr;q=0.9,nb;q=0.5,da;q=0.4", "nb"),
        ("en-GB,en;q=0.9,da;q=0.8", "en"),
        ("da;q=0", "en"),
        ("", "en"),
    ],
)
def test_negotiate_picks_the_best_supported_language(header: str, language: str) -> None:
    assert negotiate(header) == language


@pytest.mark.parametrize(
    ("language", "units", "days", "decimal", "when", "day"),
    [
        ("en", "1,234,567", "1,234.6", "2.50", "Mar 5, 2026, 2:07:09\u202fPM UTC", "May 17, 2026"),
        ("da", "1.234.567", "1.234,6", "2,50", "5. mar. 2026 14.07.09 UTC", "17. maj 2026"),
        ("nb", "1\xa0234\xa0567", "1\xa0234,6", "2,50", "5. mars 2026, 14:07:09 UTC", "17. mai 2026"),
    ],
)
def test_numbers_and_dates_are_written_per_language(
    language: str, units: str, days: str, decimal: str, when: str, day: str
) -> None:
    formats = Formats(language)
    assert formats.units(1234567) == units
    assert formats.days(1234.56) == days
    assert formats.days(None) == "–"
    assert formats.decimal(2.5, 2) == decimal
    assert formats.when(datetime(2026, 3, 5, 14, 7, 9, tzinfo=UTC)) == when
    assert formats.when("2026-03-05T14:07:09Z") == when
    assert formats.day(date(2026, 5, 17)) == day
