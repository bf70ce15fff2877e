"""Rule sets: ordered rules whose conditions shape how an order is routed.

A rule set is a JSON document (JSON Schema: :func:`rule_set_schema`, conditions: see
:mod:`routing.conditions`). Rules are tried in order. A rule whose ``when`` matches lays its
``then`` over the outcome so far, starting from the rule set's ``default``, and evaluation
stops there unless the rule says ``"continue": true``, in which case later rules may refine
the outcome further. When no rule matches, ``default`` applies. Example::

    {"name": "peak-2026", "timezone": "America/New_York",
     "default": {"ranking": ["priority", "distance", "stock_depth"],
                 "split": {"mode": "split", "max_shipments": 3}},
     "rules": [
       {"id": "cold-chain", "when": {"field": "sku_tag", "op": "contains_any", "value": ["cold"]},
        "then": {"warehouses": {"require_tags": ["cold-chain"]}}, "continue": true},
       {"id": "ca-orders",
        "when": {"all": [{"field": "country", "op": "eq", "value": "CA"},
                         {"not": {"field": "service_level", "op": "eq", "value": "express"}}]},
        "then": {"warehouses": {"include": ["NORTH"]}, "split": {"mode": "ship_complete"},
                 "on_no_stock": "backorder"}},
       {"id": "after-hours-express",
        "when": {"all": [{"field": "service_level", "op": "in", "value": ["express", "same_day"]},
                         {"field": "local_time", "op": "between", "value": ["16:00", "23:59"]}]},
        "then": {"priority_boost": {"WEST": 5}}}]}

An outcome (``default`` or a rule's ``then``) states any of:

* ``warehouses``: ``include`` (only these codes), ``exclude`` (never these), ``require_tags``
  (a warehouse needs every one, e.g. cold-chain, hazmat) and ``exclude_tags``;
* ``ranking``: criteria chained in order, from :data:`CRITERIA` (not stated:
  :data:`DEFAULT_RANKING`, nearest first, then priority, then most stock);
* ``split``: ``mode`` (ship_complete | split), ``max_shipments`` (null: no limit; ignored by
  ship_complete), ``allow_line_split``, ``ship_alone_skus`` (each always its own shipment),
  ``keep_together`` (groups of SKUs such as a kit's parts) and
  ``min_value_per_extra_shipment`` (in the order's currency);
* ``on_no_stock``: exception | backorder | hold | reject;
* ``priority_boost``: warehouse code -> integer, positive = more preferred;
* ``consolidate``: ``{"window_minutes": N}`` (0..1440; 0 = none): hold the order so that
  orders of the same customer to the same address within N minutes ship together;
* ``partial_release``: true | false (default false), acted on only with ``on_no_stock``
  backorder: what stock covers now is routed and released (under the same split policy) and
  only the rest waits for replenishment; false keeps the whole order waiting;
* ``on_cutoff_missed``: exception | downgrade | ship_next_day | hold, for an express or
  same_day order that every warehouse able to ship it could ship only on a later day (past
  its cut-off, or closed today): the exception ``cutoff_missed`` (the default), routed as
  ``downgrade_to`` (default standard), shipped on the warehouse's next open day, or held
  until that day begins and routed then;
* ``downgrade_to``: standard | express, the service level of ``downgrade``;
* ``objective``: weights of what a plan costs, per shipment (``shipments``, ``cost``,
  ``distance_km``, ``capacity``; default: shipments 1, the others 0, i.e. fewest shipments
  then ranking), e.g. ``{"shipments": 10, "cost": 1, "distance_km": 0.01}``; see
  :mod:`routing.optimise`.

Laying a ``then`` over an outcome replaces what it states: ``ranking`` and ``on_no_stock``
whole, ``split`` key by key and ``priority_boost`` code by code; ``warehouses.include``
replaces too; ``objective`` weight by weight. ``exclude``, ``require_tags`` and
``exclude_tags`` add to those so far instead, so that a later rule cannot drop a constraint
such as cold chain set by an earlier one.
The types and their evaluation live in :mod:`routing.rule_model`, reading a document in
:mod:`routing.rule_parser`; everything is importable from here.
"""

from omniroute.routing.conditions import Condition, OrderFacts, RuleError
from omniroute.routing.rule_model import (
    CRITERIA,
    DEFAULT_OUTCOME,
    DEFAULT_RANKING,
    MAX_BOOST,
    CompiledRules,
    CutoffAction,
    Evaluation,
    NoStockAction,
    Objective,
    PartialOutcome,
    Rule,
    RuleOutcome,
    RuleSet,
    RuleSetError,
    SplitMode,
    SplitPolicy,
    WarehouseSelector,
    evaluate,
)
from omniroute.routing.rule_parser import (
    Reference,
    RefKind,
    parse_rule_set,
    rule_references,
    rule_set_schema,
    validate_rule_set,
)

# Condition, OrderFacts and RuleError are re-exported: callers need only this module.
__all__ = [
    "CRITERIA",
    "DEFAULT_OUTCOME",
    "DEFAULT_RANKING",
    "MAX_BOOST",
    "CompiledRules",
    "Condition",
    "CutoffAction",
    "Evaluation",
    "NoStockAction",
    "Objective",
    "OrderFacts",
    "PartialOutcome",
    "RefKind",
    "Reference",
    "Rule",
    "RuleError",
    "RuleOutcome",
    "RuleSet",
    "RuleSetError",
    "SplitMode",
    "SplitPolicy",
    "WarehouseSelector",
    "evaluate",
    "parse_rule_set",
    "rule_references",
    "rule_set_schema",
    "validate_rule_set",
]
