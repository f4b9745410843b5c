"""Webhook subscriptions to alert changes (API.md, "Alerts"), on the live ledger only.

Coordinators and admins manage them. A subscription's secret is taken once and never
answered again; deliveries and their attempts are listed so a receiver's owner can see
what was sent, when, and what their end answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import Coordinator, OnceDep
from api.responses import ERRORS
from domain.webhooks import MAX_RESPONSE_BYTES, Delivery, Subscribe, Subscription
from ledger import clock
from projections.outbox import Outbox

router = APIRouter(prefix="/v1/subscriptions", tags=["alerts"], responses=ERRORS)


def get_outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox


OutboxDep = Annotated[Outbox, Depends(get_outbox)]
SubscriptionId = Annotated[UUID, "the subscription's id"]


class SubscriptionCreated(BaseModel):
    subscription_id: str


class SubscriptionView(BaseModel):
    """A subscription as anyone may see it: never its secret."""

    subscription_id: str
    url: str
    kinds: list[str] | None = Field(description="Only these alert kinds; null: all")
    regions: list[str] | None = Field(description="Only these regions; null: all")
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, subscription: Subscription) -> SubscriptionView:
        return cls(
            subscription_id=subscription.subscription_id,
            url=subscription.url,
            kinds=None if subscription.kinds is None else list(subscription.kinds),
            regions=None if subscription.regions is None else list(subscription.regions),
            created_at=subscription.created_at,
            created_by=subscription.created_by,
        )


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionView]


class DeliveryAttempt(BaseModel):
    attempt: int = Field(description="1 for the first POST, counting up")
    at: datetime
    status_code: int | None = Field(description="What the receiver answered; null when it did not answer")
    error: str | None = Field(description="Why the attempt failed; null when delivered")
    response_body: str | None = Field(
        description=f"The start of the receiver's answer: at most {MAX_RESPONSE_BYTES} bytes are kept"
    )
    duration_ms: int


class DeliveryView(BaseModel):
    delivery_id: str = Field(description="The X-Supply-Ledger-Delivery header: the same on every attempt")
    sequence: int = Field(description="The order of deliveries within the subscription, from 1")
    alert_id: str
    change: str = Field(description="opened, escalated or closed")
    status: str = Field(description="pending or delivered")
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When it is tried next; null once delivered")
    delivered_at: datetime | None
    body: dict[str, Any] = Field(description="The JSON POSTed, byte for byte as signed")
    attempts: list[DeliveryAttempt]

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryView:
        return cls(
            delivery_id=delivery.delivery_id,
            sequence=delivery.sequence,
            alert_id=delivery.alert_id,
            change=delivery.change,
            status=delivery.status,
            created_at=delivery.created_at,
            next_attempt_at=delivery.next_attempt_at,
            delivered_at=delivery.delivered_at,
            body=delivery.body,
            attempts=[DeliveryAttempt(**attempt.__dict__) for attempt in delivery.attempt_log],
        )


class DeliveryList(BaseModel):
    subscription_id: str
    deliveries: list[DeliveryView]


@router.post("", status_code=201, response_model=SubscriptionCreated)
def subscribe(
    body: Subscribe, principal: Coordinator, outbox: OutboxDep, once: OnceDep, response: Response
) -> SubscriptionCreated:
    """Each alert opening, escalation and closing (of the kinds and regions asked) is POSTed
    to `url`, signed with `secret` (`X-Supply-Ledger-Signature: sha256=<hex HMAC-SHA256>`)."""
    request = None if once is None else (once.scope, once.key, once.fingerprint)
    subscription, replayed = outbox.subscribe(
        body.url,
        body.secret.get_secret_value(),
        principal.name,
        clock.now(),
        kinds=body.kinds,
        regions=body.regions,
        request=request,
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return SubscriptionCreated(subscription_id=subscription.subscription_id)


@router.get("", response_model=SubscriptionList)
def list_subscriptions(_: Coordinator, outbox: OutboxDep) -> SubscriptionList:
    return SubscriptionList(subscriptions=[SubscriptionView.of(s) for s in outbox.subscriptions()])


@router.get("/{subscription_id}", response_model=SubscriptionView)
def get_subscription(subscription_id: SubscriptionId, _: Coordinator, outbox: OutboxDep) -> SubscriptionView:
    return SubscriptionView.of(outbox.subscription(str(subscription_id)))


@router.delete("/{subscription_id}", status_code=204, response_class=Response)
def unsubscribe(subscription_id: SubscriptionId, _: Coordinator, outbox: OutboxDep) -> Response:
    """Nothing more is sent to it; its pending deliveries are dropped with it."""
    outbox.unsubscribe(str(subscription_id))
    return Response(status_code=204)


@router.get("/{subscription_id}/deliveries", response_model=DeliveryList)
def list_deliveries(
    subscription_id: SubscriptionId,
    _: Coordinator,
    outbox: OutboxDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="Only deliveries after this sequence number")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryList:
    """The subscription's deliveries in order, each with every attempt."""
    deliveries = outbox.deliveries(str(subscription_id), after=after, limit=limit)
    return DeliveryList(subscription_id=str(subscription_id), deliveries=[DeliveryView.of(d) for d in deliveries])
