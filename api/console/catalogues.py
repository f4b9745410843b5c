"""The console's message catalogues: what is extracted from its templates and Python, and
whether every language translates all of it.

A catalogue is a text file, `locales/{da,nb}/LC_MESSAGES/messages.po`, compiled in memory
when first read (`api.console.i18n.translations`). English is the source text. To update
them after changing a page, from the repository's root:

    pybabel extract -F babel.cfg -k N_ -o api/console/locales/messages.pot api/console
    pybabel update -i api/console/locales/messages.pot -d api/console/locales

then translate every new (empty or `#, fuzzy`) entry in both .po files; the test
`tests/test_console_i18n.py` fails until each message has a translation in each language
whose `%(name)s` placeholders are the English text's.

Texts that reach a page from elsewhere and are translated there (`{{ _(title) }}`,
`{{ _(chrome.role) }}`, `{{ _(key) }}` of a refusal's figures) are marked below, so that
extraction keeps them in the catalogues; the test checks that every problem title the
service can raise is among them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from api.console.i18n import DEFAULT, LANGUAGES, LOCALES, N_

CONSOLE = Path(__file__).parent
CONFIG = CONSOLE.parent.parent / "babel.cfg"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
TRANSLATED = tuple(language for language in LANGUAGES if language != DEFAULT)
"""The languages with a catalogue: all but English, the source text."""

ROLES = (N_("operator"), N_("coordinator"), N_("auditor"), N_("admin"))
"""The roles as the frame names who is signed in."""

PROBLEM_TITLES = (
    # domain/exceptions.py and the other refusals of the service layer
    N_("Refused"),
    N_("Not found"),
    N_("Unknown depot"),
    N_("Unknown item"),
    N_("Unknown transfer"),
    N_("Unknown supply request"),
    N_("Unknown allocation"),
    N_("Unknown event"),
    N_("Unknown alert"),
    N_("Unknown exercise"),
    N_("Unknown distribution model"),
    N_("Unknown import"),
    N_("Conflict"),
    N_("Insufficient stock"),
    N_("Duplicate code"),
    N_("Transfer already closed"),
    N_("Supply request already closed"),
    N_("Allocation closed"),
    N_("Allocation exceeded"),
    N_("Version mismatch"),
    N_("Idempotency key reused with a different request"),
    N_("Concurrent update"),
    N_("Alert already acknowledged"),
    N_("Exercise ended"),
    N_("Invalid command"),
    N_("Invalid file"),
    N_("Invalid view parameter"),
    N_("Position beyond the ledger"),
    N_("Forbidden"),
    # api/problems.py: HTTP's own refusals and a form that does not validate
    N_("Invalid request"),
    N_("Bad request"),
    N_("Unauthorized"),
    N_("Method not allowed"),
    N_("Error"),
)
"""Problem titles a refused form or an error page shows as `{{ _(title) }}`."""

FIGURES = (
    N_("available"),
    N_("requested"),
    N_("remaining"),
    N_("expected"),
    N_("actual"),
    N_("depot"),
    N_("item"),
    N_("lot"),
    N_("destination"),
    N_("code"),
    N_("gtin"),
    N_("position"),
    N_("corrects"),
    N_("allocation_id"),
    N_("allocation_status"),
    N_("transfer_id"),
    N_("transfer_status"),
    N_("request_id"),
    N_("error_count"),
    N_("key"),
    N_("items"),
    N_("recommended_lines"),
    N_("subscription_id"),
)
"""The names of a refusal's figures (`InsufficientStock`'s `available`, `requested`, ...)."""


@dataclass(frozen=True)
class Gap:
    """A message a language does not translate well enough, and why."""

    language: str
    msgid: str
    reason: str


def extracted() -> Catalog:
    """Every message of the console's templates and Python, as `pybabel extract` finds it."""
    with CONFIG.open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    catalog = Catalog(project="Supply Ledger console")
    for filename, lineno, message, comments, context in extract_from_dir(
        CONSOLE, method_map, options_map, keywords=KEYWORDS
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                catalog.add(msgid, locations=[(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def catalogue(language: str) -> Catalog:
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


def gaps(languages: tuple[str, ...] = TRANSLATED) -> list[Gap]:
    """Messages without a translation, marked fuzzy, or whose placeholders differ from the English."""
    wanted = [m.id for m in extracted() if m.id]
    found: list[Gap] = []
    for language in languages:
        translated = {m.id: m for m in catalogue(language) if m.id}
        for msgid in wanted:
            entry = translated.get(msgid)
            text = entry.string if entry is not None and isinstance(entry.string, str) else ""
            if not text.strip():
                found.append(Gap(language, str(msgid), "no translation"))
            elif entry is not None and entry.fuzzy:
                found.append(Gap(language, str(msgid), "fuzzy: check the translation"))
            elif placeholders(text) != placeholders(str(msgid)):
                found.append(Gap(language, str(msgid), f"placeholders {sorted(placeholders(text))}"))
    return found


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))
