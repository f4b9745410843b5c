"""The console's languages: English, Danish and Norwegian Bokmål, from gettext catalogues
(`locales/*/LC_MESSAGES/messages.po`, kept as text and compiled with Babel when first
read), numbers and dates formatted per language by Babel. Item and depot names are never
translated: they are shown as registered.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from functools import cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from starlette.requests import Request

LOCALES = Path(__file__).with_name("locales")
LANGUAGES: dict[str, str] = {"en": "English", "da": "Dansk", "nb": "Norsk bokmål"}
"""Each language's code and its own name, as the switch shows it."""
DEFAULT = "en"
COOKIE = "sl_lang"
ALIASES = {"no": "nb", "nn": "nb"}  # a Norwegian browser asking for "no" reads Bokmål


def chosen(request: Request) -> str:
    """The switch's choice (a cookie), else the best of `Accept-Language`, else English."""
    picked = request.cookies.get(COOKIE, "")
    if picked in LANGUAGES:
        return picked
    return negotiate(request.headers.get("accept-language", ""))


def negotiate(header: str) -> str:
    """The first supported language by quality in an `Accept-Language` header."""
    weighted: list[tuple[float, int, str]] = []
    for n, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        primary = ALIASES.get(primary, primary)
        if primary in LANGUAGES and quality > 0:
            weighted.append((-quality, n, primary))
    return min(weighted)[2] if weighted else DEFAULT


@cache
def translations(language: str) -> NullTranslations:
    """The language's catalogue, compiled in memory from its .po file (English is the source text)."""
    po = LOCALES / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT or not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return GNUTranslations(compiled)


class Formats:
    """Numbers and times as the language writes them: `1,234.5` / `1.234,5` / `1 234,5`.
    Times are shown in UTC and say so, as the API's cuts are read in UTC."""

    def __init__(self, language: str) -> None:
        self.locale = Locale.parse(language)

    def units(self, value: int | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.locale)

    def days(self, value: float | None) -> str:
        """Days of supply to one decimal; "–" where there is no consumption to divide by."""
        return "–" if value is None else format_decimal(round(value, 1), format="#,##0.0", locale=self.locale)

    def decimal(self, value: float | None, digits: int = 1) -> str:
        if value is None:
            return "–"
        return format_decimal(round(value, digits), format="#,##0." + "0" * digits, locale=self.locale)

    def when(self, value: datetime | str | None) -> str:
        if value is None or value == "":
            return ""
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
        return format_datetime(moment, "medium", tzinfo=UTC, locale=self.locale) + " UTC"

    def day(self, value: date | datetime | str | None) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return format_date(value, "medium", locale=self.locale)


def N_(message: str) -> str:
    """Marks a message id for extraction where the text is chosen at run time (a menu label,
    a role, a problem's title) and translated by the template: `{{ _(label) }}`."""
    return message
