"""A year of order history as rows, for bench/big_database.py: the shapes and distributions.

Deterministic for a seed. Each order is generated whole (lines, routing decision, fulfilment
orders, shipments, timeline, inbox row, outbox rows, stock ledger, exceptions) so the rows
agree with each other the way the application writes them; stock levels are settled at the
end from what the ledger moved.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Paul",
    "Ashley",
    "Steven",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Ana",
    "Noor",
    "Kai",
    "Eva",
    "Wei",
    "Priya",
    "Omar",
    "Sofia",
    "Lucas",
    "Chloe",
    "Mateo",
    "Aisha",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Chen",
    "Okafor",
    "Haddad",
    "Berg",
    "Rossi",
    "Kim",
    "Silva",
    "Novak",
    "Dubois",
    "Schmidt",
]
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "example.org", "hey.com")
CITIES = (
    ("New York", "NY", "10001"),
    ("Chicago", "IL", "60601"),
    ("Austin", "TX", "73301"),
    ("Seattle", "WA", "98101"),
    ("Newark", "NJ", "07102"),
    ("Atlanta", "GA", "30301"),
    ("San Francisco", "CA", "94105"),
    ("Boston", "MA", "02108"),
    ("Denver", "CO", "80202"),
    ("Miami", "FL", "33101"),
    ("Phoenix", "AZ", "85001"),
    ("Portland", "OR", "97201"),
    ("Nashville", "TN", "37201"),
    ("Detroit", "MI", "48201"),
    ("Columbus", "OH", "43004"),
    ("Charlotte", "NC", "28202"),
    ("Minneapolis", "MN", "55401"),
    ("Salt Lake City", "UT", "84101"),
)
# 20 channels: (kind, weight of their order volume).
CONNECTORS = (
    *[("shopify", w) for w in (22, 12, 8, 5, 3, 2)],
    *[("woocommerce", w) for w in (6, 4, 2, 1)],
    *[("amazon_sp", w) for w in (14, 6, 3)],
    *[("square", w) for w in (3, 2, 1)],
    *[("generic_webhook", w) for w in (2, 1)],
    *[("edi_x12", w) for w in (3, 1)],
)
CARRIERS = ("UPS", "FedEx", "USPS", "DHL")
# Hour-of-day weights (UTC, US evenings are busy) and weekday weights (Monday first).
HOURS = (3, 2, 2, 3, 3, 2, 2, 2, 2, 3, 4, 5, 6, 7, 7, 7, 8, 8, 8, 8, 7, 6, 5, 4)
WEEKDAYS = (1.05, 1.0, 1.0, 1.0, 0.95, 0.85, 0.9)
EXCEPTION_CODES = (
    ("unknown_sku", 30),
    ("bad_address", 25),
    ("no_stock", 15),
    ("wms_rejected", 8),
    ("wms_unreachable", 6),
    ("held_for_review", 6),
    ("channel_push_failed", 5),
    ("rejected_by_rule", 3),
    ("stock_discrepancy", 2),
)
OPEN_STATES = ("received", "validated", "routed", "released", "on_hold", "backordered")

COLUMNS: dict[str, tuple[str, ...]] = {
    "sales_order": (
        "id",
        "connector_id",
        "external_id",
        "external_number",
        "channel",
        "status",
        "external_updated_at",
        "currency",
        "total",
        "ship_to",
        "customer_email",
        "customer_name",
        "service_level",
        "canonical",
        "created_at",
        "updated_at",
        "hold_code",
        "hold_reason",
    ),
    "order_line": (
        "id",
        "order_id",
        "line_no",
        "external_line_id",
        "channel_sku",
        "sku",
        "title",
        "quantity",
        "unit_price",
    ),
    "order_event": ("id", "order_id", "from_status", "to_status", "note", "created_at"),
    "routing_decision": (
        "id",
        "order_id",
        "policy",
        "outcome",
        "attempt",
        "plan",
        "trace",
        "created_at",
    ),
    "fulfilment_order": (
        "id",
        "order_id",
        "warehouse_id",
        "decision_id",
        "status",
        "external_ref",
        "created_at",
        "released_at",
    ),
    "fulfilment_line": (
        "id",
        "fulfilment_order_id",
        "order_line_id",
        "sku",
        "quantity",
        "shipped_quantity",
        "cancelled_quantity",
    ),
    "shipment": (
        "id",
        "fulfilment_order_id",
        "order_id",
        "external_ref",
        "carrier",
        "tracking_number",
        "lines",
        "shipped_at",
        "created_at",
        "tracking_key",
        "status",
        "status_at",
        "delivered_at",
        "last_event_at",
    ),
    "inbound_message": (
        "id",
        "connector_id",
        "dedupe_key",
        "topic",
        "headers",
        "body",
        "status",
        "attempts",
        "next_attempt_at",
        "order_id",
        "received_at",
        "processed_at",
        "last_error",
    ),
    "outbox_message": (
        "id",
        "kind",
        "connector_id",
        "fulfilment_order_id",
        "idempotency_key",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "sent_at",
    ),
    "stock_ledger": (
        "id",
        "warehouse_id",
        "sku",
        "delta_on_hand",
        "delta_reserved",
        "delta_safety",
        "reason",
        "reference",
        "actor",
        "created_at",
    ),
    "order_exception": (
        "id",
        "reason",
        "detail",
        "status",
        "order_id",
        "inbound_message_id",
        "subject",
        "occurrences",
        "first_seen_at",
        "last_seen_at",
        "retries",
        "created_at",
        "resolved_at",
        "closed_by",
    ),
}

Row = tuple[Any, ...]
Emit = Callable[[str, Row], None]


def js(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def day_weights(until: datetime, days: int) -> list[float]:
    """Orders per day, relative: weekdays, a Q4 season, and a peak day (Black Friday-like)."""
    weights = []
    for back in range(days, 0, -1):
        day = until - timedelta(days=back)
        w = WEEKDAYS[day.weekday()] * (1.0 + 0.6 * (day.month in (11, 12)))
        if day.month == 11 and day.weekday() == 4 and 23 <= day.day <= 29:
            w *= 5.0
        if day.month == 12 and day.day in (26, 27):
            w *= 1.8
        weights.append(w)
    return weights


def order_times(rng: random.Random, until: datetime, orders: int) -> list[datetime]:
    """``orders`` creation times over the year ending at ``until``, sorted."""
    days = 365
    weights = day_weights(until, days)
    total = sum(weights)
    start = until - timedelta(days=days)
    counts = [int(orders * w / total) for w in weights]
    for i in rng.sample(range(days), orders - sum(counts)):
        counts[i] += 1
    hours = list(range(24))
    found = []
    for day, count in enumerate(counts):
        base = start + timedelta(days=day)
        picked = rng.choices(hours, weights=HOURS, k=count)
        found.extend(
            base
            + timedelta(hours=h, seconds=rng.randrange(3600), microseconds=rng.randrange(10**6))
            for h in picked
        )
    found.sort()
    return found


class Catalogue:
    """SKUs with skewed popularity, and which warehouses stock each."""

    def __init__(self, rng: random.Random, skus: int, warehouse_ids: list[int]) -> None:
        self.codes = [f"SKU-{i:06d}" for i in range(1, skus + 1)]
        self.prices = {c: rng.randint(399, 24999) for c in self.codes}
        self.stocked = {c: [w for w in warehouse_ids if rng.random() < 0.85] for c in self.codes}
        for where in self.stocked.values():
            if not where:
                where.append(rng.choice(warehouse_ids))
        # Zipf-like: a few SKUs sell a lot.
        self.weights = [1.0 / (rank + 10) for rank in range(skus)]
        self._cum: list[float] = []
        acc = 0.0
        for w in self.weights:
            acc += w
            self._cum.append(acc)

    def pick(self, rng: random.Random, k: int) -> list[str]:
        chosen = rng.choices(self.codes, cum_weights=self._cum, k=k)
        return list(dict.fromkeys(chosen))


class Stock:
    """What the ledger moved per (warehouse, sku); the levels are settled from it."""

    def __init__(self) -> None:
        self.shipped: dict[tuple[int, str], int] = defaultdict(int)
        self.reserved: dict[tuple[int, str], int] = defaultdict(int)


class Ids:
    """The next id of each table (ids are given here, sequences set after the load)."""

    def __init__(self, start: dict[str, int] | None = None) -> None:
        self.next: dict[str, int] = defaultdict(lambda: 1, start or {})

    def __call__(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


def final_status(rng: random.Random, age_days: float) -> str:
    """Where an order created ``age_days`` before the end of the history stands at its end."""
    if age_days < 0.1:
        table = {
            "received": 8,
            "validated": 4,
            "routed": 15,
            "released": 60,
            "exception": 5,
            "on_hold": 4,
            "backordered": 4,
        }
    elif age_days < 2:
        table = {
            "released": 45,
            "partially_shipped": 5,
            "shipped": 40,
            "exception": 3,
            "on_hold": 2,
            "backordered": 3,
            "cancelled": 2,
        }
    elif age_days < 7:
        table = {
            "shipped": 55,
            "delivered": 35,
            "partially_shipped": 2,
            "released": 2,
            "exception": 1.5,
            "backordered": 1,
            "on_hold": 0.5,
            "cancelled": 3,
        }
    else:
        table = {
            "delivered": 88,
            "shipped": 6.5,
            "cancelled": 4,
            "exception": 0.5,
            "on_hold": 0.3,
            "backordered": 0.4,
            "partially_shipped": 0.3,
        }
    return rng.choices(list(table), weights=list(table.values()))[0]


class Customers:
    """A pool of customers; a few order often, most once or twice."""

    def __init__(self, rng: random.Random, size: int) -> None:
        self.size = max(size, 10)
        self.rng = rng

    def pick(self) -> tuple[str, str, tuple[str, str, str]]:
        n = int(self.size * self.rng.random() ** 2.2)
        r = random.Random(n * 7919 + 13)  # the same customer every time n comes up
        first, last = r.choice(FIRST), r.choice(LAST)
        email = f"{first}.{last}{n}@{r.choice(DOMAINS)}"
        if r.random() < 0.8:
            email = email.lower()
        return f"{first} {last}", email, r.choice(CITIES)


def channel_numbers(kind: str, seq: int, rng: random.Random) -> tuple[str, str | None]:
    """(external id, the order number a person reads) as each kind of channel makes them."""
    if kind == "shopify":
        return str(5_100_000_000 + seq * 37), f"#{1000 + seq}"
    if kind == "woocommerce":
        return str(seq), str(seq)
    if kind == "amazon_sp":
        number = f"{rng.randrange(100, 999)}-{rng.randrange(10**7):07d}-{rng.randrange(10**7):07d}"
        return number, number
    if kind == "square":
        return "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=26)), None
    if kind == "edi_x12":
        return f"PO{seq:08d}", f"PO{seq:08d}"
    return f"ORD-{seq:07d}", f"ORD-{seq:07d}"


def inbound_body(
    order: dict[str, Any], lines: list[dict[str, Any]], ship_to: dict[str, Any]
) -> bytes:
    """The channel's payload as received (a Shopify-like order object of realistic size)."""
    first, _, last = ship_to["name"].partition(" ")
    address = {
        **ship_to,
        "first_name": first,
        "last_name": last,
        "company": None,
        "address2": None,
        "country": "United States",
        "country_code": "US",
    }
    body = {
        "id": order["external_id"],
        "name": order["external_number"],
        "email": order["email"],
        "created_at": order["at"].isoformat() + "Z",
        "updated_at": order["at"].isoformat() + "Z",
        "currency": "USD",
        "financial_status": "paid",
        "total_price": order["total"],
        "customer": {"email": order["email"], "first_name": first, "last_name": last},
        "shipping_address": address,
        "billing_address": address,
        "line_items": [
            {
                "id": ln["external_line_id"],
                "sku": ln["sku"],
                "title": ln["title"],
                "quantity": ln["quantity"],
                "price": ln["unit_price"],
                "variant_title": "Default",
                "vendor": "Omniroute Demo",
                "requires_shipping": True,
                "taxable": True,
                "properties": [],
                "tax_lines": [{"title": "State tax", "rate": 0.06}],
            }
            for ln in lines
        ],
        "shipping_lines": [{"title": "Standard", "price": "5.99", "code": "STANDARD"}],
        "client_details": {
            "browser_ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.2 Safari/605.1.15",
        },
        "note": None,
        "tags": "",
    }
    return js(body).encode()


PATHS = {
    "received": ("received",),
    "validated": ("received", "validated"),
    "on_hold": ("received", "on_hold"),
    "exception": ("received", "validated", "exception"),
    "backordered": ("received", "validated", "backordered"),
    "routed": ("received", "validated", "routed"),
    "released": ("received", "validated", "routed", "released"),
    "partially_shipped": ("received", "validated", "routed", "released", "partially_shipped"),
    "shipped": ("received", "validated", "routed", "released", "shipped"),
    "delivered": ("received", "validated", "routed", "released", "shipped", "delivered"),
}
ROUTED = {"routed", "released", "partially_shipped", "shipped", "delivered"}


class OrderMaker:
    """Writes one order and everything the application would have written for it."""

    def __init__(
        self,
        *,
        rng: random.Random,
        until: datetime,
        emit: Emit,
        ids: Ids,
        catalogue: Catalogue,
        connectors: list[tuple[int, str]],
        wms_connector_id: int,
        customers: Customers,
        seq_base: int = 0,
    ) -> None:
        self.rng, self.until, self.emit, self.ids = rng, until, emit, ids
        self.catalogue, self.connectors, self.customers = catalogue, connectors, customers
        self.wms = wms_connector_id
        self.weights = [w for _, w in CONNECTORS]
        self.seq: dict[int, int] = defaultdict(lambda: seq_base)
        self.stock = Stock()
        self.codes = [c for c, _ in EXCEPTION_CODES]
        self.code_weights = [w for _, w in EXCEPTION_CODES]

    def order(self, at: datetime) -> None:
        rng = self.rng
        connector_id, kind = rng.choices(self.connectors, weights=self.weights)[0]
        self.seq[connector_id] += 1
        external_id, number = channel_numbers(kind, self.seq[connector_id], rng)
        name, email, (city, province, postal) = self.customers.pick()
        age = (self.until - at).total_seconds() / 86400
        status = final_status(rng, age)
        skus = self.catalogue.pick(rng, rng.choices((1, 2, 3, 4, 5), (50, 25, 13, 7, 5))[0])
        if status == "partially_shipped" and len(skus) < 2:
            status = "released"
        order_id = self.ids("sales_order")
        lines = self._lines(order_id, skus)
        total = sum(int(ln["unit_price"].replace(".", "")) * ln["quantity"] for ln in lines)
        ship_to = {
            "name": name,
            "address1": f"{rng.randint(1, 9999)} Oak Street",
            "city": city,
            "province": province,
            "postal_code": postal,
            "country": "US",
        }
        head = {
            "external_id": external_id,
            "external_number": number,
            "email": email,
            "at": at,
            "total": f"{total // 100}.{total % 100:02d}",
        }
        cancelled = status == "cancelled"
        if cancelled:
            status = "routed" if rng.random() < 0.5 else "validated"
        times = self._times(at, status, age)
        self._inbound(order_id, connector_id, kind, head, lines, ship_to, at)
        last = times[-1]
        if status in ROUTED:
            self._fulfil(order_id, connector_id, status, lines, times, cancelled)
        elif status == "backordered":
            self._decision(order_id, "backorder", [], times[2])
        self._events(order_id, status, times, cancelled)
        self._exceptions(order_id, status, at, last)
        if cancelled:
            last = times[-1] + timedelta(hours=rng.uniform(0.2, 30))
            status = "cancelled"
        canonical = {
            "external_id": external_id,
            "external_number": number,
            "currency": "USD",
            "total": head["total"],
            "customer": {"email": email, "name": name},
            "ship_to": ship_to,
            "lines": [
                {
                    k: ln[k]
                    for k in (
                        "external_line_id",
                        "channel_sku",
                        "sku",
                        "title",
                        "quantity",
                        "unit_price",
                    )
                }
                for ln in lines
            ],
        }
        hold = (
            ("payment_pending", "the payment is not captured yet")
            if status == "on_hold"
            else (None, None)
        )
        self.emit(
            "sales_order",
            (
                order_id,
                connector_id,
                external_id,
                number,
                kind,
                status,
                at.isoformat() + "Z",
                "USD",
                head["total"],
                js(ship_to),
                email,
                name,
                "standard",
                js(canonical),
                at,
                min(last, self.until),
                *hold,
            ),
        )

    def _lines(self, order_id: int, skus: list[str]) -> list[dict[str, Any]]:
        found = []
        for no, sku in enumerate(skus, start=1):
            price = self.catalogue.prices[sku]
            line = {
                "id": self.ids("order_line"),
                "line_no": no,
                "sku": sku,
                "external_line_id": str(order_id * 10 + no),
                "channel_sku": sku,
                "title": f"Product {sku[4:]}",
                "quantity": self.rng.choices((1, 2, 3), (75, 18, 7))[0],
                "unit_price": f"{price // 100}.{price % 100:02d}",
            }
            found.append(line)
            self.emit(
                "order_line",
                (
                    line["id"],
                    order_id,
                    no,
                    line["external_line_id"],
                    sku,
                    sku,
                    line["title"],
                    line["quantity"],
                    line["unit_price"],
                ),
            )
        return found

    def _times(self, at: datetime, status: str, age: float) -> list[datetime]:
        """When each step of the order's path happened (never after the end of the history)."""
        rng = self.rng
        steps = [at, at + timedelta(seconds=rng.uniform(0.5, 3))]
        steps.append(steps[-1] + timedelta(seconds=rng.uniform(0.2, 2)))
        steps.append(steps[-1] + timedelta(seconds=rng.uniform(0.5, 5)))
        room = max(age * 86400 - 10, 60.0)
        ship = min(rng.uniform(4, 60) * 3600, room * 0.7)
        steps.append(steps[3] + timedelta(seconds=ship))
        deliver = min(rng.uniform(1, 5) * 86400, room * 0.25)
        steps.append(steps[4] + timedelta(seconds=deliver))
        return steps[: len(PATHS[status])]

    def _decision(self, order_id: int, outcome: str, plan: list[Any], at: datetime) -> int:
        decision_id = self.ids("routing_decision")
        trace = {
            "summary": f"{outcome}: {len(plan)} warehouse(s)",
            "chosen": [p["warehouse_id"] for p in plan],
        }
        self.emit(
            "routing_decision",
            (
                decision_id,
                order_id,
                "default",
                outcome,
                1,
                js(plan),
                js(trace),
                at,
            ),
        )
        return decision_id

    def _split(self, lines: list[dict[str, Any]], force: bool) -> dict[int, list[dict[str, Any]]]:
        """Lines per warehouse: one that stocks the first line, others where it has none."""
        stocked = self.catalogue.stocked
        home = self.rng.choice(stocked[lines[0]["sku"]])
        plan: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for ln in lines:
            where = stocked[ln["sku"]]
            plan[home if home in where else self.rng.choice(where)].append(ln)
        if force and len(plan) < 2:
            moved = lines[-1]
            others = [w for w in stocked[moved["sku"]] if w != home] or [home]
            if others[0] != home:
                plan[home].remove(moved)
                plan[self.rng.choice(others)].append(moved)
        return {w: ls for w, ls in plan.items() if ls}

    def _fulfil(  # noqa: PLR0917 - a private step of order()
        self,
        order_id: int,
        connector_id: int,
        status: str,
        lines: list[dict[str, Any]],
        times: list[datetime],
        cancelled: bool,
    ) -> None:
        rng, emit = self.rng, self.emit
        plan = self._split(lines, force=status == "partially_shipped")
        routed_at = times[2]
        outcome = "single" if len(plan) == 1 else "split"
        decision_id = self._decision(
            order_id,
            outcome,
            [
                {
                    "warehouse_id": w,
                    "lines": [{"sku": ln["sku"], "quantity": ln["quantity"]} for ln in ls],
                }
                for w, ls in plan.items()
            ],
            routed_at,
        )
        for n, (warehouse_id, fo_lines) in enumerate(plan.items()):
            fo_id = self.ids("fulfilment_order")
            ships = status in ("shipped", "delivered") or (status == "partially_shipped" and n == 0)
            fo_status = (
                "cancelled"
                if cancelled
                else "shipped"
                if ships
                else "pending"
                if status == "routed"
                else "released"
            )
            released_at = times[3] if len(times) > 3 else None
            emit(
                "fulfilment_order",
                (
                    fo_id,
                    order_id,
                    warehouse_id,
                    decision_id,
                    fo_status,
                    None if released_at is None else f"WMS-{fo_id}",
                    routed_at,
                    released_at,
                ),
            )
            release = "cancelled" if cancelled else "pending" if status == "routed" else "sent"
            emit(
                "outbox_message",
                (
                    self.ids("outbox_message"),
                    "wms.release",
                    self.wms,
                    fo_id,
                    f"wms.release:{fo_id}",
                    js({"fulfilment_order_id": fo_id}),
                    release,
                    0 if release != "sent" else 1,
                    routed_at,
                    routed_at,
                    released_at,
                ),
            )
            shipped_lines = []
            for ln in fo_lines:
                fl_id = self.ids("fulfilment_line")
                q, key = ln["quantity"], (warehouse_id, ln["sku"])
                emit(
                    "fulfilment_line", (fl_id, fo_id, ln["id"], ln["sku"], q, q if ships else 0, 0)
                )
                ref = f"order:{order_id}"
                self._ledger(warehouse_id, ln["sku"], 0, q, "reserve", ref, routed_at)
                if cancelled:
                    cancel_at = routed_at + timedelta(hours=rng.uniform(0.1, 2))
                    self._ledger(warehouse_id, ln["sku"], 0, -q, "unreserved", ref, cancel_at)
                elif ships:
                    self._ledger(
                        warehouse_id,
                        ln["sku"],
                        -q,
                        -q,
                        "shipped",
                        f"fulfilment_order:{fo_id}",
                        times[4],
                    )
                    self.stock.shipped[key] += q
                    shipped_lines.append(
                        {"fulfilment_line_id": fl_id, "sku": ln["sku"], "quantity": q}
                    )
                else:
                    self.stock.reserved[key] += q
            if shipped_lines:
                self._shipment(fo_id, order_id, connector_id, shipped_lines, times)

    def _ledger(  # noqa: PLR0917 - a private step of order()
        self,
        warehouse_id: int,
        sku: str,
        on_hand: int,
        reserved: int,
        reason: str,
        reference: str,
        at: datetime,
    ) -> None:
        self.emit(
            "stock_ledger",
            (
                self.ids("stock_ledger"),
                warehouse_id,
                sku,
                on_hand,
                reserved,
                0,
                reason,
                reference,
                "system",
                at,
            ),
        )

    def _shipment(
        self,
        fo_id: int,
        order_id: int,
        connector_id: int,
        lines: list[dict[str, Any]],
        times: list[datetime],
    ) -> None:
        rng = self.rng
        shipment_id = self.ids("shipment")
        carrier = rng.choice(CARRIERS)
        tracking = f"1Z{rng.randrange(16**12):012X}{rng.randrange(10**4):04d}"
        shipped_at = times[4]
        delivered = times[5] if len(times) > 5 else None
        status = "delivered" if delivered else "in_transit"
        self.emit(
            "shipment",
            (
                shipment_id,
                fo_id,
                order_id,
                f"SHP-{shipment_id}",
                carrier,
                tracking,
                js(lines),
                shipped_at,
                shipped_at,
                tracking,
                status,
                delivered or shipped_at,
                delivered,
                delivered or shipped_at,
            ),
        )
        self.emit(
            "outbox_message",
            (
                self.ids("outbox_message"),
                "channel.fulfilment",
                connector_id,
                fo_id,
                f"channel.fulfilment:{shipment_id}",
                js({"shipment_id": shipment_id}),
                "sent",
                1,
                shipped_at,
                shipped_at,
                shipped_at + timedelta(seconds=rng.uniform(1, 30)),
            ),
        )

    def _events(self, order_id: int, status: str, times: list[datetime], cancelled: bool) -> None:
        path = PATHS[status]
        previous = None
        for to, at in zip(path, times, strict=True):
            self.emit("order_event", (self.ids("order_event"), order_id, previous, to, None, at))
            previous = to
        if cancelled:
            at = times[-1] + timedelta(hours=self.rng.uniform(0.1, 2))
            self.emit(
                "order_event",
                (
                    self.ids("order_event"),
                    order_id,
                    previous,
                    "cancelled",
                    "cancelled by the channel",
                    at,
                ),
            )

    def _exceptions(self, order_id: int, status: str, at: datetime, last: datetime) -> None:
        """An open exception for an order parked in ``exception``; a resolved one for 3 %
        of the others (the problem was fixed and the order went on)."""
        rng = self.rng
        if status == "exception":
            resolved = None
        elif rng.random() < 0.03:
            resolved = at + timedelta(minutes=rng.uniform(5, 600))
        else:
            return
        code = rng.choices(self.codes, weights=self.code_weights)[0]
        seen = at + timedelta(seconds=3)
        self.emit(
            "order_exception",
            (
                self.ids("order_exception"),
                code,
                js({"message": f"{code.replace('_', ' ')} on order {order_id}"}),
                "open" if resolved is None else "resolved",
                order_id,
                None,
                f"order:{order_id}",
                rng.choices((1, 2, 3), (85, 10, 5))[0],
                seen,
                seen,
                0,
                seen,
                resolved,
                None if resolved is None or rng.random() < 0.5 else "ops@example.com",
            ),
        )

    def _inbound(  # noqa: PLR0917 - a private step of order()
        self,
        order_id: int,
        connector_id: int,
        kind: str,
        head: dict[str, Any],
        lines: list[dict[str, Any]],
        ship_to: dict[str, Any],
        at: datetime,
    ) -> None:
        body = inbound_body(head, lines, ship_to)
        self.emit(
            "inbound_message",
            (
                self.ids("inbound_message"),
                connector_id,
                f"{kind}:{head['external_id']}:1",
                "orders/create",
                js({"content-type": "application/json"}),
                body,
                "done",
                1,
                at,
                order_id,
                at,
                at + timedelta(seconds=1),
                None,
            ),
        )

    def bad_payload(self, connector_id: int, at: datetime) -> None:
        """An inbox row that could not be read, kept with its exception (most closed)."""
        inbound_id = self.ids("inbound_message")
        body = b'{"id": 12345, "line_items": [{"sku": "X", "quantity": "two"}' + b" " * 400
        self.emit(
            "inbound_message",
            (
                inbound_id,
                connector_id,
                f"bad:{inbound_id}",
                "orders/create",
                js({}),
                body,
                "failed",
                1,
                at,
                None,
                at,
                at,
                "invalid JSON: Expecting ',' delimiter",
            ),
        )
        closed = at + timedelta(hours=self.rng.uniform(1, 48))
        is_open = closed > self.until or self.rng.random() < 0.1
        self.emit(
            "order_exception",
            (
                self.ids("order_exception"),
                "invalid_payload",
                js({"error": "invalid JSON"}),
                "open" if is_open else "dismissed",
                None,
                inbound_id,
                f"inbound:{inbound_id}",
                1,
                at,
                at,
                0,
                at,
                None if is_open else closed,
                None if is_open else "ops@example.com",
            ),
        )
