"""Domain exceptions: each says, in the business's words, why a command was refused."""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every refusal. `extra` carries the figures a client needs to act on it."""

    title = "Refused"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(LedgerError):
    title = "Not found"


class UnknownDepot(NotFound):
    title = "Unknown depot"


class UnknownItem(NotFound):
    title = "Unknown item"


class UnknownTransfer(NotFound):
    title = "Unknown transfer"


class UnknownRequest(NotFound):
    title = "Unknown supply request"


class UnknownAllocation(NotFound):
    title = "Unknown allocation"


class UnknownEvent(NotFound):
    """A reference (an event id or a ledger position `pos:N`) to an event the ledger does not hold."""

    title = "Unknown event"


class Conflict(LedgerError):
    title = "Conflict"


class InsufficientStock(Conflict):
    title = "Insufficient stock"


class DuplicateCode(Conflict):
    title = "Duplicate code"


class TransferClosed(Conflict):
    title = "Transfer already closed"


class RequestClosed(Conflict):
    title = "Supply request already closed"


class AllocationClosed(Conflict):
    title = "Allocation closed"


class AllocationExceeded(Conflict):
    """A transfer against an allocation may take only what the allocation still holds for its destination."""

    title = "Allocation exceeded"


class VersionMismatch(Conflict):
    title = "Version mismatch"


class IdempotencyKeyReused(Conflict):
    title = "Idempotency key reused with a different request"


class ConcurrentUpdate(Conflict):
    title = "Concurrent update"


class InvalidCommand(LedgerError):
    """The command is well-formed JSON but makes no sense for the ledger (422)."""

    title = "Invalid command"


class InvalidFile(InvalidCommand):
    """An imported file (or a FHIR report) with mistakes, each by row and column (422): a
    storekeeper reads "Invalid file", not "Invalid command"."""

    title = "Invalid file"


class Forbidden(LedgerError):
    title = "Forbidden"
