"""A console form from rendering to refusal: each rendered form carries a fresh idempotency
key, so a double click or a resubmission after a lost answer stores one event (the ledger
replays the first outcome); a refusal is shown with the problem's own words next to the
field it concerns, and what was typed is kept.

A form handler reads `Submitted` (CSRF already checked), then `attempt`s a command: the
same pydantic command and the same ledger method the JSON API calls.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from api.console.session import SignedInDep, check_csrf
from api.problems import status_of
from domain import exceptions as ex
from ledger.context import Context

KEY_FIELD = "idempotency_key"
NOT_FIELDS = {"csrf", KEY_FIELD, "form"}
"""Hidden fields every console form has: never part of a command."""

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


@dataclass
class FormState:
    """A form as the page draws it: its values, its key and, after a refusal, why."""

    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # field name → the problem's words
    title: str | None = None  # the problem's title, e.g. "Insufficient stock"
    detail: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)  # e.g. available, requested
    status: int = 200

    @property
    def refused(self) -> bool:
        return self.title is not None

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def error(self, name: str) -> str | None:
        return self.errors.get(name)


@dataclass
class Outcome(Generic[T]):
    """What an attempt gave: the ledger's outcome, or the form to draw again."""

    result: T | None = None
    replayed: bool = False
    form: FormState | None = None


@dataclass
class Submitted:
    """A posted console form: its fields (without the hidden ones), its key and who sent it."""

    request: Request
    fields: dict[str, str]
    key: str
    context: Context
    multi: list[tuple[str, str]] = field(default_factory=list)

    def values_of(self, name: str) -> list[str]:
        """Every value of a field sent several times (checkboxes, repeated rows), in order."""
        return [v for k, v in self.multi if k == name]

    def body(self, *, drop_empty: bool = True) -> dict[str, Any]:
        """The fields as a command's body: an empty field means "not given"."""
        return {k: v for k, v in self.fields.items() if not (drop_empty and v.strip() == "")}

    def attempt(
        self,
        model: type[M],
        action: Callable[[M, Context], tuple[T, bool]],
        body: dict[str, Any] | None = None,
        fields: dict[str, str] | None = None,
    ) -> Outcome[T]:
        """Validate `body` (default: the fields) as `model` and run `action` with this form's
        context. `fields` maps a command's field names to the form's where they differ."""
        try:
            command = model.model_validate(self.body() if body is None else body)
            result, replayed = action(command, self.context)
        except ValidationError as invalid:
            return Outcome(form=self.refused(422, "Invalid request", "", _pydantic_errors(invalid), {}, fields))
        except ex.LedgerError as error:
            errors = [
                {"loc": e.get("loc", ()), "msg": str(e.get("msg", ""))} for e in error.extra.get("errors", []) or []
            ]
            figures = {k: v for k, v in error.extra.items() if k != "errors" and v is not None}
            return Outcome(form=self.refused(status_of(error), error.title, error.detail, errors, figures, fields))
        return Outcome(result=result, replayed=replayed)

    def refused(
        self,
        status: int,
        title: str,
        detail: str,
        errors: list[dict[str, Any]],
        figures: dict[str, Any],
        fields: dict[str, str] | None = None,
    ) -> FormState:
        """The form drawn again with what was typed, its key kept (a retry is the same submission)."""
        names = fields or {}
        by_field: dict[str, str] = {}
        for error in errors:
            loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query")]
            name = ".".join(loc) if loc else ""
            name = names.get(name, names.get(loc[0], loc[0]) if loc else "")
            by_field[name] = f"{by_field[name]}; {error['msg']}" if name in by_field else str(error["msg"])
        general = detail or "; ".join(by_field.values())
        return FormState(
            key=self.key,
            values=dict(self.fields),
            errors=by_field,
            title=title,
            detail=general,
            figures=figures,
            status=status,
        )


def _pydantic_errors(invalid: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")).removeprefix("Value error, ")}
        for e in invalid.errors()
    ]


async def submitted(request: Request, signed: SignedInDep, _: Annotated[None, Depends(check_csrf)]) -> Submitted:
    """The posted form of a signed-in person, CSRF checked, with the context its command runs in."""
    form = await request.form()
    multi = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]  # files are the handler's to read
    everything = dict(multi)
    fields = {k: v for k, v in everything.items() if k not in NOT_FIELDS}
    key = everything.get(KEY_FIELD, "").strip()[:200] or uuid.uuid4().hex
    principal = signed.principal
    fingerprint = hashlib.sha256(
        "\0".join([request.url.path, *(f"{k}={v}" for k, v in sorted(fields.items()))]).encode()
    ).hexdigest()
    context = Context(
        actor=principal.name,
        principal_id=principal.id,
        organisations=principal.writable_organisations,
        source="console",
        request_id=getattr(request.state, "request_id", None) or uuid.uuid4().hex,
        idempotency_key=key,
        fingerprint=fingerprint,
    )
    return Submitted(request, fields, key, context, multi)


SubmittedForm = Annotated[Submitted, Depends(submitted)]
