"""The seeded days of bench/batch_routing.py: where stock is, what is ordered, and when.

Two days, both seeded, both `n` orders of 1–6 lines shipped to six countries from 20
locations with scarce, skewed stock (each SKU's stock is `scarcity` × its demand over the
day):

- `retail` (the default): a plausible retailer's day.
  - **Network.** A national DC in Germany carries the whole range; two regional DCs
    (France, Great Britain) carry the core range (the 150 best sellers); 17 stores, two to
    four per country, carry only the head (the 60 best sellers, each store a random half).
  - **Demand.** 400 SKUs with Zipf-like popularity (exponent 0.9). SKUs come in 50
    families of 8 (a jacket and its trousers, a lamp and its bulbs): an order's first line
    is drawn by popularity, each further line with probability `affinity` (0.6) from the
    first line's family (by popularity within it), else from the whole range.
  - **Stock.** A best seller's stock is split between the stores that carry it (40 %) and
    the three DCs (60 %); a core SKU's over the three DCs; a tail SKU lies at the national
    DC only. Units are placed one by one at random over the holders, so some get little.
  - **Time.** Orders arrive over 24 hours with a retail profile: few at night, a lunch peak
    and the evening peak (hourly weights below). The warehouse releases them in waves
    (bench/batch_routing.py `--waves`; `releases` below).
- `uniform` (`--day uniform`, the first bench's day, kept for comparison): 4 DCs holding most
  of the range and 16 sites holding a few SKUs each, no families, orders arriving evenly.

Shipping cost per location and country grows with the distance (per shipment and per unit).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

COUNTRIES = {  # country: (lat, lon) of its centre
    "GB": (52.5, -1.5),
    "IE": (53.3, -7.5),
    "FR": (46.6, 2.4),
    "BE": (50.6, 4.6),
    "NL": (52.2, 5.5),
    "DE": (51.0, 10.0),
}
# Orders per hour of the day, relative (night trough, lunch peak, evening peak).
HOURLY = [2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 8, 9, 8, 7, 7, 7, 8, 10, 12, 12, 10, 7, 4]
DC_COUNTRIES = ("DE", "FR", "GB")  # the national DC, then two regional DCs
STORES_PER_COUNTRY = {"GB": 4, "DE": 4, "FR": 3, "NL": 2, "BE": 2, "IE": 2}
HEAD = 60  # the best sellers the stores carry
CORE = 150  # the core range the regional DCs carry (the national DC carries every SKU)
STORE_SHARE = 0.4  # of a best seller's stock, at the stores that carry it
FAMILY = 8  # SKUs per family


@dataclass(frozen=True)
class Day:
    name: str
    sites: dict[str, tuple[float, float, bool]]  # ref: (lat, lon, is a DC)
    stock: dict[tuple[str, str], int]
    orders: list[tuple[float, str, dict[str, int]]]  # (minute, country, sku → units)


def rate(lat: float, lon: float, country: str) -> tuple[int, int]:
    """(per shipment, per unit) in cents from a location to a country's centre."""
    clat, clon = COUNTRIES[country]
    km = math.hypot(lat - clat, (lon - clon) * 0.65) * 111
    return 400 + round(km * 0.8), 30 + round(km * 0.05)


def make_day(name: str, seed: int, n: int, scarcity: float, affinity: float = 0.6) -> Day:
    if name == "uniform":
        return uniform_day(seed, n, scarcity)
    if name == "retail":
        return retail_day(seed, n, scarcity, affinity)
    raise ValueError(f"unknown day {name!r}")


def _lines(rng: random.Random) -> int:
    return rng.choices([1, 2, 3, 4, 5, 6], [40, 25, 15, 10, 6, 4])[0]


def _demand(orders: list[tuple[float, str, dict[str, int]]]) -> dict[str, int]:
    demand: dict[str, int] = {}
    for _, _, wanted in orders:
        for sku, q in wanted.items():
            demand[sku] = demand.get(sku, 0) + q
    return demand


def history(
    name: str, seed: int, n: int, scarcity: float, affinity: float, history_seed: int
) -> list[tuple[float, str, dict[str, int]]]:
    """Another day's orders from the same shop: the catalogue of day `seed` (its sites, its
    SKUs' popularity and families, drawn first from the same seed), and `n` orders drawn
    with `history_seed` instead. Nothing of day `seed`'s own orders is used."""
    if name == "uniform":  # its SKUs' popularity is fixed: no catalogue to draw
        return _uniform_orders(random.Random(history_seed), n)
    if name == "retail":
        _, weight, family_of = _retail_catalogue(random.Random(seed))
        return _retail_orders(random.Random(history_seed), n, weight, family_of, affinity)
    raise ValueError(f"unknown day {name!r}")


def _retail_catalogue(
    rng: random.Random,
) -> tuple[dict[str, tuple[float, float, bool]], dict[str, float], dict[str, list[str]]]:
    sites: dict[str, tuple[float, float, bool]] = {}
    for i, country in enumerate(DC_COUNTRIES):
        clat, clon = COUNTRIES[country]
        sites[f"DC-{i:02d}"] = (clat + rng.uniform(-1, 1), clon + rng.uniform(-1, 1), True)
    k = len(sites)
    for country, count in sorted(STORES_PER_COUNTRY.items()):
        clat, clon = COUNTRIES[country]
        for _ in range(count):
            sites[f"STORE-{k:02d}"] = (
                clat + rng.uniform(-1.5, 1.5),
                clon + rng.uniform(-2, 2),
                False,
            )
            k += 1
    skus = [f"SKU-{j:03d}" for j in range(400)]
    ranks = list(range(len(skus)))
    rng.shuffle(ranks)  # popularity rank of each SKU: families mix best sellers and tail
    weight = {sku: 1 / (ranks[j] + 1) ** 0.9 for j, sku in enumerate(skus)}
    families = [skus[j : j + FAMILY] for j in range(0, len(skus), FAMILY)]
    family_of = {sku: f for f in families for sku in f}
    return sites, weight, family_of


def _retail_orders(
    rng: random.Random,
    n: int,
    weight: dict[str, float],
    family_of: dict[str, list[str]],
    affinity: float,
) -> list[tuple[float, str, dict[str, int]]]:
    skus = sorted(weight)
    hours = rng.choices(range(24), HOURLY, k=n)
    minutes = sorted(h * 60 + rng.uniform(0, 60) for h in hours)
    all_weights = [weight[s] for s in skus]
    orders = []
    for minute in minutes:
        first = rng.choices(skus, all_weights)[0]
        wanted = {first: 1}
        for _ in range(_lines(rng) - 1):
            if rng.random() < affinity:
                fam = family_of[first]
                sku = rng.choices(fam, [weight[s] for s in fam])[0]
            else:
                sku = rng.choices(skus, all_weights)[0]
            wanted[sku] = wanted.get(sku, 0) + 1
        orders.append((minute, rng.choice(sorted(COUNTRIES)), wanted))
    return orders


def retail_day(seed: int, n: int, scarcity: float, affinity: float = 0.6) -> Day:
    rng = random.Random(seed)
    sites, weight, family_of = _retail_catalogue(rng)
    orders = _retail_orders(rng, n, weight, family_of, affinity)
    demand = _demand(orders)
    ranked = sorted(demand, key=lambda s: (-demand[s], s))
    head, core = set(ranked[:HEAD]), set(ranked[:CORE])
    dcs = [ref for ref, (_, _, dc) in sites.items() if dc]
    stores = [ref for ref, (_, _, dc) in sites.items() if not dc]
    carries = {ref: {s for s in sorted(head) if rng.random() < 0.5} for ref in stores}
    stock: dict[tuple[str, str], int] = {}
    for sku in sorted(demand):
        total = max(1, round(demand[sku] * scarcity))
        at_stores = [ref for ref in stores if sku in carries[ref]] if sku in head else []
        holders = dcs if sku in core else dcs[:1]  # the tail: the national DC only
        for _ in range(total):
            if at_stores and rng.random() < STORE_SHARE:
                ref = rng.choice(at_stores)
            else:
                ref = rng.choice(holders)
            stock[ref, sku] = stock.get((ref, sku), 0) + 1
    return Day("retail", sites, stock, orders)


def uniform_day(
    seed: int, n: int, scarcity: float, dc_share: float = 0.6, dc_range: float = 0.8
) -> Day:
    """The first bench's day (module doc), unchanged."""
    rng = random.Random(seed)
    sites: dict[str, tuple[float, float, bool]] = {}
    for i in range(20):
        lat, lon = rng.uniform(44, 56), rng.uniform(-8, 12)
        sites[f"{'DC' if i < 4 else 'SITE'}-{i:02d}"] = (lat, lon, i < 4)
    orders = _uniform_orders(rng, n)
    demand = _demand(orders)
    big = [ref for ref, (_, _, b) in sites.items() if b]
    small = [ref for ref, (_, _, b) in sites.items() if not b]
    stock: dict[tuple[str, str], int] = {}
    for sku, units in sorted(demand.items()):
        dcs = [ref for ref in big if rng.random() < dc_range] or [rng.choice(big)]
        holders = rng.sample(small, rng.randint(1, 5))
        for _ in range(max(1, round(units * scarcity))):
            ref = rng.choice(dcs) if rng.random() < dc_share else rng.choice(holders)
            stock[ref, sku] = stock.get((ref, sku), 0) + 1
    return Day("uniform", sites, stock, orders)


def _uniform_orders(rng: random.Random, n: int) -> list[tuple[float, str, dict[str, int]]]:
    skus = [f"SKU-{k:03d}" for k in range(400)]
    weights = [1 / (k + 1) ** 0.9 for k in range(len(skus))]
    orders = []
    for k in range(n):
        wanted: dict[str, int] = {}
        for sku in rng.choices(skus, weights, k=_lines(rng)):
            wanted[sku] = wanted.get(sku, 0) + 1
        orders.append((k * 24 * 60 / n, rng.choice(sorted(COUNTRIES)), wanted))
    return orders


def releases(
    waves: Sequence[float], every: float, after: float, cutoff: float
) -> list[tuple[float, float]]:
    """When orders are released to the warehouse (picked: no longer movable), as (minute
    of the release, orders captured before this minute go). With `waves` (hours of the
    day): a wave at each, of the orders captured `cutoff` minutes before it, and the next
    morning's first wave for the rest. Else every `every` minutes, of the orders captured
    `after` minutes before."""
    if waves:
        hours = sorted(waves)
        out = [(h * 60, h * 60 - cutoff) for h in hours]
        first = 24 * 60 + hours[0] * 60
        return [*out, (first, math.inf)]
    out = []
    at = every
    while at - after < 24 * 60:
        out.append((at, at - after))
        at += every
    return [*out, (at, math.inf)]
