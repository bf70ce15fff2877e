"""Apply declarative mapping specs and validate the result against the canonical order schema.

A spec is a table of ``target ← source`` rules, kept by the connector that uses it as a
JSON resource of its package (``connectors/<kind>/mapping_spec.json``) and loaded with
``load_spec(package, resource)``::

    {
      "name": "myshop", "version": 1,
      "fields": {
        "external_id": {"path": "id", "transform": "str"},
        "channel": {"const": "myshop"},
        "service_level": {"path": "shipping.method", "transform": "service_level"},
        "customer": {"fields": {"email": {"path": "buyer.email"}}},
        "ship_to": {"path": "shipping.address", "fields": {"city": {"path": "town"}}},
        "lines": {"path": "items", "items": {"fields": {
          "quantity": {"path": "qty", "transform": "int"}
        }}}
      }
    }

Each rule is one of three kinds, told apart by its keys:

- value: ``path`` (a jmespath expression) or ``const``; optional ``transform`` (a name in
  ``mapping.transforms.TRANSFORMS``) and ``default`` (used when the result is null);
- object: ``fields`` (rules for its keys), optional ``path``: with a path, its fields read
  from the object found there and a null source gives null; without one, they read from the
  enclosing object;
- list: ``path`` and ``items`` (one rule applied to every element; null source gives ``[]``).

Paths are relative to the enclosing object or list element. Any rule may carry a
``description``. Expressions are compiled once, when the spec is loaded.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import itertools
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

import jmespath
from jmespath.exceptions import JMESPathError
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from omniroute.mapping.schema_check import Check, compile_check
from omniroute.mapping.transforms import TRANSFORMS, Transform, TransformError

__all__ = [
    "MAX_DESCRIBED_ERRORS",
    "MAX_LINE_QUANTITY",
    "MAX_ORDER_LINES",
    "MIN_LINE_QUANTITY",
    "MONEY",
    "MappingError",
    "MappingSpec",
    "SpecError",
    "alias_to_map",
    "apply_spec",
    "compile_spec",
    "load_spec",
    "map_order",
    "order_schema",
    "resolve_skus",
    "sku_keys",
    "validate_order",
]

_SPEC_NAME = re.compile(r"[a-z][a-z0-9_]*")
_SPEC_RESOURCE = re.compile(r"[a-z][a-z0-9_]*\.json")
_SIMPLE_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_MESSAGE_LIMIT = 200
#: How many schema errors of one document are looked at to describe it (the first by path
#: is reported, with a count of the others).
MAX_DESCRIBED_ERRORS = 20


class MappingError(ValueError):
    """A payload cannot become a valid canonical order.

    ``path`` is the canonical JSON path (``"lines[0].quantity"``), ``source`` the source
    field or expression it came from when known (``"line_items[0].quantity"``), ``detail``
    the reason without either.
    """

    def __init__(self, detail: str, *, path: str | None = None, source: str | None = None) -> None:
        self.detail = detail
        self.path = path
        self.source = source
        where = f"{path}: " if path else ""
        origin = f" (source: {source})" if source else ""
        super().__init__(f"{where}{detail}{origin}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep path and source when the error crosses a process boundary (pickle).
        rebuild = functools.partial(MappingError, path=self.path, source=self.source)
        return (rebuild, (self.detail,))


class SpecError(ValueError):
    """A mapping spec itself is malformed or missing: a programming error, not bad input."""


class Path(Protocol):
    """A compiled source expression."""

    @property
    def expression(self) -> str: ...

    def search(self, value: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A jmespath path of plain fields read without the interpreter (most of a spec's paths):
    the same result as jmespath's, a field of anything without ``get`` being None."""

    expression: str
    names: tuple[str, ...]

    def search(self, value: Any) -> Any:
        for name in self.names:
            try:
                value = value.get(name)
            except AttributeError:
                return None
        return value


@dataclass(frozen=True)
class ValueRule:
    target: str
    source: str | None
    expression: Path | None
    const: Any = None
    transform: Transform | None = None
    default: Any = None
    has_default: bool = False


@dataclass(frozen=True)
class ObjectRule:
    target: str
    source: str | None
    expression: Path | None
    fields: tuple[Rule, ...]


@dataclass(frozen=True)
class ListRule:
    target: str
    source: str
    expression: Path
    item: Rule


Rule = ValueRule | ObjectRule | ListRule


@dataclass(frozen=True)
class MappingSpec:
    """A compiled spec: load with ``load_spec`` or build with ``compile_spec``."""

    name: str
    version: int
    fields: tuple[Rule, ...]

    def source_of(self, target: Sequence[str | int]) -> str | None:
        """The source expression behind a canonical path given as parts: ``["lines", 0, "sku"]``."""
        return _source_in_fields(self.fields, target, None)


# --- compiling --------------------------------------------------------------------------

_SPEC_KEYS = frozenset({"name", "version", "description", "fields"})
_VALUE_KEYS = frozenset({"path", "const", "transform", "default", "description"})
_OBJECT_KEYS = frozenset({"path", "fields", "description"})
_LIST_KEYS = frozenset({"path", "items", "description"})


def compile_spec(raw: Mapping[str, Any]) -> MappingSpec:
    """Check a spec document and compile its expressions; raises ``SpecError``."""
    _check_keys(raw, _SPEC_KEYS, "spec")
    name, version = raw.get("name"), raw.get("version")
    if not isinstance(name, str) or not _SPEC_NAME.fullmatch(name):
        raise SpecError(f"spec name must match {_SPEC_NAME.pattern}, got {name!r}")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SpecError(f"spec {name}: version must be an integer, got {version!r}")
    return MappingSpec(name, version, _compile_fields(raw.get("fields"), f"{name}.fields"))


def _check_keys(raw: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown keys {unknown}")


def _compile_fields(raw: Any, where: str) -> tuple[Rule, ...]:
    if not isinstance(raw, Mapping) or not raw:
        raise SpecError(f"{where}: expected a non-empty object of rules")
    return tuple(_compile_rule(target, rule, f"{where}.{target}") for target, rule in raw.items())


def _compile_rule(target: str, raw: Any, where: str) -> Rule:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: a rule must be an object, got {raw!r}")
    path = raw.get("path")
    if "fields" in raw:
        _check_keys(raw, _OBJECT_KEYS, where)
        expression = None if path is None else _compile_path(path, where)
        fields = _compile_fields(raw["fields"], f"{where}.fields")
        source = None if expression is None else expression.expression
        return ObjectRule(target, source, expression, fields)
    if "items" in raw:
        _check_keys(raw, _LIST_KEYS, where)
        expression = _compile_path(path, where)
        item = _compile_rule(target, raw["items"], f"{where}.items")
        return ListRule(target, expression.expression, expression, item)
    _check_keys(raw, _VALUE_KEYS, where)
    return _compile_value(target, raw, where)


def _compile_value(target: str, raw: Mapping[str, Any], where: str) -> ValueRule:
    if ("path" in raw) == ("const" in raw):
        raise SpecError(f"{where}: a value rule needs exactly one of 'path' and 'const'")
    transform: Transform | None = None
    if "transform" in raw:
        if "const" in raw:
            raise SpecError(f"{where}: a const is already canonical; drop its transform")
        transform = TRANSFORMS.get(raw["transform"])
        if transform is None:
            raise SpecError(f"{where}: unknown transform {raw['transform']!r}")
    if "const" in raw:
        return ValueRule(target, None, None, const=raw["const"])
    return ValueRule(
        target,
        raw["path"],
        _compile_path(raw["path"], where),
        transform=transform,
        default=raw.get("default"),
        has_default="default" in raw,
    )


def _compile_path(path: Any, where: str) -> Path:
    if not isinstance(path, str) or not path:
        raise SpecError(f"{where}: 'path' must be a jmespath expression, got {path!r}")
    try:
        parsed = jmespath.compile(path)
    except JMESPathError as exc:
        raise SpecError(f"{where}: bad jmespath {path!r}: {exc}") from exc
    names = _field_names(parsed.parsed)
    return parsed if names is None else FieldPath(parsed.expression, names)


def _field_names(node: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The names of a path of plain fields (``a``, ``a.b.c``); None for anything else."""
    if node.get("type") == "field":
        return (node["value"],)
    if node.get("type") != "subexpression":
        return None
    names: tuple[str, ...] = ()
    for child in node["children"]:
        more = _field_names(child)
        if more is None:
            return None
        names += more
    return names


@functools.cache
def load_spec(package: str, resource: str) -> MappingSpec:
    """The spec a package ships as ``resource`` (a JSON file beside its modules), compiled
    once per process. A connector loads its own::

        load_spec("omniroute.connectors.myshop", "mapping_spec.json")
    """
    if not _SPEC_RESOURCE.fullmatch(resource):
        raise SpecError(f"invalid spec resource name {resource!r}")
    try:
        found = resources.files(package).joinpath(resource)
    except (ImportError, TypeError, ValueError) as exc:
        raise SpecError(f"cannot read spec {resource!r} of package {package!r}: {exc}") from None
    if not found.is_file():
        raise SpecError(f"package {package!r} has no mapping spec {resource!r}")
    try:
        raw = json.loads(found.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SpecError(f"{package}/{resource} is not JSON: {exc}") from None
    if not isinstance(raw, Mapping):
        raise SpecError(f"{package}/{resource} must hold a JSON object")
    return compile_spec(raw)


# --- applying ---------------------------------------------------------------------------


def apply_spec(spec: MappingSpec, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical document the spec makes of a decoded JSON payload (not yet validated)."""
    return _apply_fields(spec.fields, payload, "", None)


def _apply_fields(
    rules: tuple[Rule, ...], context: Any, target: str, source: str | None
) -> dict[str, Any]:
    if not isinstance(context, Mapping):
        raise MappingError(
            f"expected an object, got {_describe(context)}", path=target or "$", source=source
        )
    return {
        rule.target: _apply_rule(rule, context, _join_target(target, rule.target), source)
        for rule in rules
    }


def _apply_rule(rule: Rule, context: Any, target: str, prefix: str | None) -> Any:
    source = _join_source(prefix, rule.source)
    if isinstance(rule, ValueRule):
        return _apply_value(rule, context, target, source)
    if isinstance(rule, ObjectRule):
        found = (
            context
            if rule.expression is None
            else _search(rule.expression, context, target, source)
        )
        return None if found is None else _apply_fields(rule.fields, found, target, source)
    found = _search(rule.expression, context, target, source)
    if found is None:
        return []
    if not isinstance(found, list):
        raise MappingError(f"expected a list, got {_describe(found)}", path=target, source=source)
    cap = _LIST_CAPS.get(target)
    if cap is not None and len(found) > cap:
        # Refused before any item is mapped: the cost of an oversized order stays flat.
        raise MappingError(_too_many(target, cap, len(found)), path=target, source=source)
    return [
        _apply_rule(rule.item, element, f"{target}[{index}]", f"{source}[{index}]")
        for index, element in enumerate(found)
    ]


def _apply_value(rule: ValueRule, context: Any, target: str, source: str | None) -> Any:
    if rule.expression is None:
        return copy.deepcopy(rule.const)
    value = _search(rule.expression, context, target, source)
    if rule.transform is not None:
        try:
            value = rule.transform(value)
        except TransformError as exc:
            raise MappingError(str(exc), path=target, source=source) from exc
    if value is None and rule.has_default:
        return copy.deepcopy(rule.default)
    return value


def _search(expression: Path, context: Any, target: str, source: str | None = None) -> Any:
    try:
        return expression.search(context)
    except JMESPathError as exc:  # e.g. a jmespath function given the wrong type
        raise MappingError(f"cannot evaluate source: {exc}", path=target, source=source) from exc


def _too_many(target: str, cap: int, found: int) -> str:
    return f"at most {cap:,} {target} per order, got {found:,}"


def _join_target(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _join_source(prefix: str | None, expression: str | None) -> str | None:
    if prefix is None or expression is None:
        return expression or prefix
    if _SIMPLE_PATH.fullmatch(expression):
        return f"{prefix}.{expression}"
    return f"{prefix}.({expression})"


def _source_in_fields(
    rules: tuple[Rule, ...], target: Sequence[str | int], prefix: str | None
) -> str | None:
    if not target:
        return prefix
    rule = next((rule for rule in rules if rule.target == target[0]), None)
    return None if rule is None else _source_in_rule(rule, target[1:], prefix)


def _source_in_rule(rule: Rule, rest: Sequence[str | int], prefix: str | None) -> str | None:
    here = _join_source(prefix, rule.source)
    if isinstance(rule, ObjectRule) and rest:
        return _source_in_fields(rule.fields, rest, here)
    if isinstance(rule, ListRule) and rest and isinstance(rest[0], int):
        return _source_in_rule(rule.item, rest[1:], f"{here}[{rest[0]}]")
    return here


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- validating -------------------------------------------------------------------------


@functools.cache
def _schema() -> dict[str, Any]:
    resource = resources.files("omniroute.mapping").joinpath("schemas").joinpath("order.v1.json")
    schema: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return schema


def order_schema() -> dict[str, Any]:
    """The canonical order JSON Schema (a copy the caller may change)."""
    return copy.deepcopy(_schema())


_QUANTITY = _schema()["$defs"]["line"]["properties"]["quantity"]
#: Bounds of a line's quantity (the order_line column is a 32-bit integer). Values from 0
#: down to the minimum are stored, then parked as ``bad_quantity`` by the business checks.
MAX_LINE_QUANTITY: int = _QUANTITY["maximum"]
MIN_LINE_QUANTITY: int = _QUANTITY["minimum"]
#: The most lines one order may have.
MAX_ORDER_LINES: int = _schema()["properties"]["lines"]["maxItems"]
#: A money amount as the schema takes it (digits before and after the point are bounded).
MONEY = re.compile(_schema()["$defs"]["nullable_decimal"]["pattern"])
# Canonical lists refused by their length alone, in a spec and in validation.
_LIST_CAPS = {"lines": MAX_ORDER_LINES}


@functools.cache
def _formats() -> FormatChecker:
    # Own date-time check: jsonschema only checks formats whose optional packages are
    # installed, and a silently skipped check is worse than none.
    formats = FormatChecker(formats=())

    @formats.checks("date-time", raises=ValueError)
    def _is_datetime(instance: object) -> bool:
        if not isinstance(instance, str):
            return True
        return dt.datetime.fromisoformat(instance).tzinfo is not None

    return formats


@functools.cache
def _validator() -> Draft202012Validator:
    schema = _schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(_inline_refs(schema), format_checker=_formats())


@functools.cache
def _is_valid() -> Check:
    """A compiled validity check of the canonical schema (jsonschema's when not compilable)."""
    check = compile_check(_inline_refs(_schema()), _formats())
    return check if check is not None else _validator().is_valid


# Keywords that only annotate: a ``$ref`` beside them can be replaced by its target.
_ANNOTATIONS = frozenset({"description", "title", "default", "examples", "$comment"})


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every local ``#/$defs/<name>`` reference replaced by its target.

    Resolving a ``$ref`` goes through the referencing registry on every validation, which
    is most of the validator's time on an order; the definitions here are not recursive, so
    they are inlined once. A ``$ref`` with non-annotation siblings, or to anywhere else, is
    left as it is (the validator still resolves it against the original ``$defs``).
    """
    defs = schema.get("$defs") or {}

    def inline(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref[len("#/$defs/") :]
            target = defs.get(name)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if (
                isinstance(target, dict)
                and name not in seen
                and "/" not in name
                and "~" not in name
                and set(siblings) <= _ANNOTATIONS
            ):
                merged = dict(inline(target, seen | {name}))
                merged.update(siblings)
                return merged
        return {key: inline(value, seen) for key, value in node.items()}

    inlined: dict[str, Any] = inline(schema, frozenset())
    return inlined


def validate_order(doc: Mapping[str, Any], *, spec: MappingSpec | None = None) -> None:
    """Raise ``MappingError`` for the first schema violation (by path); ``spec`` names sources.

    An order with more lines than the cap is refused on its length alone, and at most
    ``MAX_DESCRIBED_ERRORS`` errors are looked at to describe an invalid one: the cost of a
    bad order does not grow with its size.
    """
    for target, cap in _LIST_CAPS.items():
        found = doc.get(target)
        if isinstance(found, list) and len(found) > cap:
            source = spec.source_of([target]) if spec is not None else None
            raise MappingError(_too_many(target, cap, len(found)), path=target, source=source)
    if _is_valid()(doc):  # the common case; jsonschema only to describe what is wrong
        if _has_nul(doc):
            _refuse_nul(doc, [], spec)
        return
    described = itertools.islice(_validator().iter_errors(doc), MAX_DESCRIBED_ERRORS)
    errors = sorted(
        ((_error_parts(error), error) for error in described),
        key=lambda pair: (_render_target(pair[0]), pair[1].message),
    )
    if not errors:
        return
    parts, first = errors[0]
    detail = first.message
    if len(detail) > _MESSAGE_LIMIT:
        detail = detail[: _MESSAGE_LIMIT - 3] + "..."
    if len(errors) == MAX_DESCRIBED_ERRORS:
        detail += f" (and at least {len(errors) - 1} more schema errors)"
    elif len(errors) > 1:
        detail += f" (and {len(errors) - 1} more schema errors)"
    source = spec.source_of(parts) if spec is not None else None
    raise MappingError(detail, path=_render_target(parts) or "$", source=source)


def _has_nul(doc: Any) -> bool:
    """Whether any string value holds a NUL (keys are the schema's own names, checked by it)."""
    stack = [doc]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str:
            if "\x00" in value:
                return True
        elif kind is dict:
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
    return False


def _refuse_nul(value: Any, parts: list[str | int], spec: MappingSpec | None) -> None:
    """A NUL character in any string (key or value): no database column can store it."""
    if isinstance(value, str):
        if "\x00" in value:
            source = spec.source_of(parts) if spec is not None else None
            raise MappingError(
                "holds a NUL character (\\u0000), which cannot be stored",
                path=_render_target(parts) or "$",
                source=source,
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if "\x00" in key:
                raise MappingError("a key holds a NUL character", path=_render_target(parts) or "$")
            _refuse_nul(item, [*parts, key], spec)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul(item, [*parts, index], spec)


def _error_parts(error: ValidationError) -> list[str | int]:
    """The error's path, pointing at the missing or unexpected key where there is one."""
    parts = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, Mapping):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [name for name in required if name not in instance]
        parts.extend(missing[:1])
    elif error.validator == "additionalProperties" and isinstance(instance, Mapping):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        extra = sorted(key for key in instance if key not in schema.get("properties", {}))
        parts.extend(extra[:1])
    return parts


def _render_target(parts: Sequence[str | int]) -> str:
    text = ""
    for part in parts:
        text = f"{text}[{part}]" if isinstance(part, int) else _join_target(text, part)
    return text


def map_order(spec: MappingSpec, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a spec to a channel payload and validate the canonical order."""
    doc = apply_spec(spec, payload)
    validate_order(doc, spec=spec)
    return doc


# --- SKU aliases ------------------------------------------------------------------------


def sku_keys(line: Mapping[str, Any]) -> list[str]:
    """The alias keys a canonical line can be found under, in the order they are tried:
    its channel SKU, ``"variant:<variant_id>"``, the bare variant id when the line has
    no channel SKU (an alias ``93`` for a SKU-less line of variant 93), then
    ``"<scheme>:<value>"`` for each of its ``identifiers`` (``"gtin:00012345678905"``)."""
    channel_sku = line.get("channel_sku") or None
    variant_id = line.get("variant_id") or None
    keys = [channel_sku] if channel_sku else []
    if variant_id:
        keys.append(f"variant:{variant_id}")
        if not channel_sku:
            keys.append(str(variant_id))
    for identifier in line.get("identifiers") or ():
        key = f"{identifier['scheme']}:{identifier['value']}"
        if key not in keys:
            keys.append(key)
    return keys


def alias_to_map(line: Mapping[str, Any]) -> str | None:
    """The alias that would map this line: its first identifier (``"gtin:<value>"``, the
    scheme the partner's items are preferred by), else its channel SKU, else
    ``"variant:<id>"``."""
    for identifier in line.get("identifiers") or ():
        return f"{identifier['scheme']}:{identifier['value']}"
    keys = sku_keys(line)
    return keys[0] if keys else None


def resolve_skus(
    order: Mapping[str, Any],
    aliases: Mapping[str, str],
    known: Collection[str] | None = None,
) -> dict[str, Any]:
    """A copy of a canonical order whose lines carry ``sku``, the internal SKU.

    A line is matched, in this order: by an alias of its channel SKU; by its channel SKU
    itself when that is a SKU of the catalogue (``known``; None: taken to be one); by an
    alias of ``"variant:<variant_id>"`` (or of the bare id for a SKU-less line); by an alias
    of each of its identifiers, ``"<scheme>:<value>"``, in their order; else the
    channel SKU is kept as it is (``None`` if there is none) and validation reports it.
    The lines are new dicts; every other value is shared with ``order``, which is left as
    it was (a deep copy of the whole order cost more than mapping it).
    """
    resolved = dict(order)
    if resolved.get("lines"):
        resolved["lines"] = [
            {**line, "sku": _line_sku(line, aliases, known)} for line in order["lines"]
        ]
    return resolved


def _line_sku(
    line: Mapping[str, Any], aliases: Mapping[str, str], known: Collection[str] | None
) -> str | None:
    channel_sku: str | None = line.get("channel_sku") or None
    if channel_sku is not None:
        if channel_sku in aliases:
            return aliases[channel_sku]
        if known is None or channel_sku in known:
            return channel_sku
    for key in sku_keys(line):
        if key != channel_sku and key in aliases:
            return aliases[key]
    return channel_sku
