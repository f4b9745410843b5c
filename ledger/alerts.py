"""Alert commands in the service layer: setting an alert rule and acknowledging an open alert.

Both are events: a rule on the ledger's one alert rules aggregate (so a view as of a past time
uses the rules in force then), an acknowledgement on the depot whose alert it is (so it shows in
the depot's timeline). Who may acknowledge is who may write to the depot: operators for their
own organisations' depots, coordinators for any.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError
from pydantic import Field

from domain.aggregate import projector
from domain.alert_commands import AcknowledgeAlert, SetAlertRule
from domain.alert_rules import AlertRules
from domain.alerts import DEFAULT_THRESHOLDS, AlertAlreadyAcknowledged, AlertKind, UnknownAlert
from domain.events import AlertRuleSet, AlertScope
from domain.exceptions import InvalidCommand, UnknownItem
from domain.ids import alert_rules_id, event_id
from ledger.outcomes import Outcome

if TYPE_CHECKING:
    from ledger.application import Context
    from ledger.host import LedgerHost
else:
    LedgerHost = object

project_rules = projector(AlertRules)


class AlertRuleOutcome(Outcome):
    kind: str
    threshold: float
    scope: dict[str, str] = Field(description="The members of the rule's scope that were given")
    version: int = Field(description="The alert rules' version: how many rules have been set")


class AcknowledgementOutcome(Outcome):
    event_id: str
    alert_id: str
    depot: str
    version: int


class AlertCommands(LedgerHost):
    """Mixed into `Ledger`."""

    def _alert_rules(self) -> AlertRules | None:
        try:
            rules: AlertRules = self.repository.get(alert_rules_id(), projector_func=project_rules)
        except AggregateNotFoundError:
            return None
        return rules

    def _check_scope(self, command: SetAlertRule) -> None:
        """Every code a scope names exists (422 otherwise: the rule would never apply)."""
        scope, errors = command.scope, list[dict[str, object]]()
        if scope.depot is not None and self.journal.registered_at(scope.depot) is None:
            errors.append({"loc": ["body", "scope", "depot"], "msg": f"no depot {scope.depot}", "type": "unknown"})
        if scope.region is not None and not self.journal.depots(region=scope.region):
            errors.append(
                {"loc": ["body", "scope", "region"], "msg": f"no depot in region {scope.region}", "type": "unknown"}
            )
        if scope.item is not None:
            try:
                self.require_item(scope.item)
            except UnknownItem:
                errors.append({"loc": ["body", "scope", "item"], "msg": f"no item {scope.item}", "type": "unknown"})
        if errors:
            raise InvalidCommand("the rule's scope names " + "; ".join(str(e["msg"]) for e in errors), errors=errors)

    def set_alert_rule(self, kind: AlertKind, command: SetAlertRule, ctx: Context) -> tuple[AlertRuleOutcome, bool]:
        if DEFAULT_THRESHOLDS[kind] is None:
            raise InvalidCommand(
                f"{kind} has no threshold to set: it holds whenever its condition does",
                errors=[{"loc": ["path", "kind"], "msg": "a kind without a threshold", "type": "no_threshold"}],
            )
        self._check_scope(command)
        scope = AlertScope(**command.scope.model_dump())

        def decide() -> tuple[list[Any], AlertRuleOutcome]:
            stamp = self._stamp(ctx, command.occurred_at, command.note)
            fields = {"kind": kind, "threshold": float(command.threshold), "scope": scope, **stamp.fields()}
            rules = self._alert_rules()
            if rules is None:
                rules = AlertRules.start(AlertRuleSet, alert_rules_id(), **fields)
            else:
                rules.set_rule(**fields)
            return [rules], AlertRuleOutcome(
                kind=kind,
                threshold=float(command.threshold),
                scope=scope.model_dump(exclude_none=True),
                version=rules.version,
            )

        return self._execute(ctx, AlertRuleOutcome, decide)

    def acknowledge_alert(
        self, alert_id: str, command: AcknowledgeAlert, ctx: Context
    ) -> tuple[AcknowledgementOutcome, bool]:
        from projections.alerts.evaluate import alerts_for

        def decide() -> tuple[list[Any], AcknowledgementOutcome]:
            codes = [row["code"] for row in self.journal.depots()]
            found = [alert for alert in alerts_for(self, codes) if alert.alert_id == alert_id]  # type: ignore[arg-type]
            if not found:
                raise UnknownAlert(f"no open alert {alert_id}")
            alert = found[0]
            depot = self._writable_depot(alert.depot, ctx)
            if alert.acknowledged is not None:
                raise AlertAlreadyAcknowledged(
                    f"alert {alert_id} was acknowledged by {alert.acknowledged['by']}", depot=alert.depot
                )
            event = depot.acknowledge_alert(alert_id, alert.kind, alert.item, self._stamp(ctx, None, command.note))
            return [depot], AcknowledgementOutcome(
                event_id=event_id(event.originator_id, event.originator_version),
                alert_id=alert_id,
                depot=depot.code,
                version=depot.version,
            )

        return self._execute(ctx, AcknowledgementOutcome, decide)
