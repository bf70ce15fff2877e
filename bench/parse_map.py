"""Parse + map throughput per channel: recorded sample bytes to a validated canonical order.

    python bench/parse_map.py                  # 2,000 iterations per channel, best of 3
    python bench/parse_map.py --iterations 500

Each iteration does what the worker does with one stored inbox body: ``json.loads`` of the
raw bytes, then the channel's pure mapping (``connectors.<channel>.mapping.to_canonical``: the
declarative spec through ``mapping.map_order`` plus JSON Schema validation of the result).
Inputs are the recorded samples in tests/fixtures/third_party/:

- shopify: ``shopify_python_api_order.json`` (the ``order`` object)
- woocommerce: ``wp-api-v3_orders_retrieve.response.json``
- square: ``RetrieveOrderResponse.example.json`` (the ``order`` object)
- amazon: ``getOrders.200.example.json`` + ``getOrderItems.200.example.json`` (both parsed,
  then ``build_payload`` of the first order with all the items, as the poller stores it)
- generic: the generic channel takes canonical orders, so its input is the Shopify sample's
  canonical order serialised to JSON (validation + copy only).

Pure CPU in one thread, no services. Prints orders/s and microseconds per order (mean of the
best of ``--repeat`` runs), so figures are comparable across channels on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omniroute.connectors.amazon.mapping import build_payload
from omniroute.connectors.amazon.mapping import to_canonical as amazon_map
from omniroute.connectors.generic.mapping import to_canonical as generic_map
from omniroute.connectors.shopify.mapping import to_canonical as shopify_map
from omniroute.connectors.square.mapping import to_canonical as square_map
from omniroute.connectors.woocommerce.mapping import to_canonical as woocommerce_map

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "third_party"

Case = Callable[[], dict[str, Any]]


def cases() -> dict[str, Case]:
    shopify_raw = (SAMPLES / "shopify" / "shopify_python_api_order.json").read_bytes()
    woo_raw = (SAMPLES / "woocommerce" / "wp-api-v3_orders_retrieve.response.json").read_bytes()
    square_raw = (SAMPLES / "square" / "RetrieveOrderResponse.example.json").read_bytes()
    orders_raw = (SAMPLES / "amazon" / "getOrders.200.example.json").read_bytes()
    items_raw = (SAMPLES / "amazon" / "getOrderItems.200.example.json").read_bytes()
    generic_raw = json.dumps(shopify_map(json.loads(shopify_raw)["order"])).encode()

    def amazon() -> dict[str, Any]:
        order = json.loads(orders_raw)["payload"]["Orders"][0]
        items = json.loads(items_raw)["payload"]["OrderItems"]
        return amazon_map(build_payload(order, items))

    return {
        "shopify": lambda: shopify_map(json.loads(shopify_raw)["order"]),
        "woocommerce": lambda: woocommerce_map(json.loads(woo_raw)),
        "square": lambda: square_map(json.loads(square_raw)["order"]),
        "amazon": amazon,
        "generic": lambda: generic_map(json.loads(generic_raw)),
    }


def measure(case: Case, iterations: int, repeat: int) -> float:
    """Seconds per order: the best mean of ``repeat`` runs of ``iterations``."""
    for _ in range(min(iterations, 200)):  # warm caches (compiled expressions, schema)
        case()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(iterations):
            case()
        best = min(best, (time.perf_counter() - started) / iterations)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--iterations", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.2f}; {args.iterations} iterations, "
        f"best of {args.repeat}"
    )
    print(f"{'channel':<12} {'lines':>5} {'orders/s':>10} {'us/order':>10}")
    for name, case in cases().items():
        lines = len(case()["lines"])
        seconds = measure(case, args.iterations, args.repeat)
        print(f"{name:<12} {lines:>5} {1 / seconds:>10,.0f} {seconds * 1e6:>10.1f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
