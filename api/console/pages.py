"""Rendering a console page: one template environment per language (its catalogue and its
number and date formats installed), and what every page's frame needs (who is signed in,
which ledger, the language switch, the CSRF token its forms carry)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request

from api.console.i18n import LANGUAGES, N_, Formats, chosen, translations
from ledger.console_sessions import SignedIn

TEMPLATES = Path(__file__).with_name("templates")
CHARTS = Path(__file__).parent.parent.parent / "replay" / "templates"  # charts.html, shared with the review
SECURITY_HEADERS = {
    # Nothing from another host, no framing; charts and pages are the service's own.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class NavLink:
    path: str
    label: str
    roles: frozenset[str]


NAVIGATION = (
    ("/", N_("Dashboard"), {"coordinator", "auditor", "admin"}),
    ("/depots", N_("Depots"), {"operator", "coordinator", "auditor", "admin"}),
    ("/transfers", N_("Transfers"), {"operator", "coordinator", "admin"}),
    ("/allocations", N_("Allocations"), {"coordinator", "auditor", "admin"}),
    ("/audit", N_("Audit"), {"coordinator", "auditor", "admin"}),
    ("/imports", N_("Imports"), {"operator", "coordinator", "admin"}),
)
"""The menu, per role; the labels are message ids (translated in the template)."""


@dataclass
class Chrome:
    """What the frame of every page shows: set up by the session dependency (`api.console.session`)."""

    language: str
    path: str
    signed: SignedIn | None = None
    exercise: str | None = None  # the exercise whose ledger the page shows, if any
    notice: str | None = None
    languages: dict[str, str] = field(default_factory=lambda: LANGUAGES)

    @property
    def base(self) -> str:
        """The prefix of the ledger's pages: "" live, `/exercises/EX1` in an exercise."""
        return f"/exercises/{self.exercise}" if self.exercise else ""

    @property
    def role(self) -> str | None:
        return self.signed.principal.role if self.signed else None

    @property
    def csrf(self) -> str:
        return self.signed.csrf if self.signed else ""

    def nav(self) -> list[tuple[str, str]]:
        role = self.role
        if role is None:
            return []
        links = [(self.base + path, label) for path, label, roles in NAVIGATION if role in roles]
        if role == "admin" or self.exercise:
            links.append(("/exercises", N_("Exercises")))
        return links

    def switch(self, language: str) -> str:
        """The language switch's link: back to this page in `language`."""
        return f"/language/{language}?next={quote(self.path, safe='/?=&')}"


def chrome(request: Request) -> Chrome:
    found = getattr(request.state, "chrome", None)
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        found = Chrome(language=chosen(request), path=path)
        request.state.chrome = found
    return found


@cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(TEMPLATES), FileSystemLoader(CHARTS)]),
        autoescape=select_autoescape(["html", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    formats = Formats(language)
    env.filters["units"] = formats.units
    env.filters["days"] = formats.days
    env.filters["decimal"] = formats.decimal
    env.filters["when"] = formats.when
    env.filters["day"] = formats.day
    env.globals["language"] = language
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The page `template` in the reader's language, within the console's frame."""
    frame = chrome(request)
    html = environment(frame.language).get_template(template).render(chrome=frame, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def see_other(path: str) -> RedirectResponse:
    """After a form: the browser GETs the result, so a reload never sends the form again."""
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


def local_path(target: str | None, default: str = "/") -> str:
    """Only a path of this site to go back to (never `//host` or a scheme): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
