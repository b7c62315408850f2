"""`make bench`: every headline benchmark, then the DESIGN §11 table of its figures.

    .venv/bin/python bench/all.py [--quick] [--only NAME[,NAME…]] [--list]
        [--timeout SECONDS] [--postgres-url URL]

Each benchmark below runs as a subprocess (one at a time: they measure the machine) with
its output streamed through, prefixed by its name. A benchmark ends by printing one line
per headline figure:

    RESULT {"figure": "<name>", "value": <number>, "unit": "<unit>", "verified": true|false}

where `verified` says its end-state checks passed. The table then gives, per figure: its
target, the value measured, the ratio to the target (≥ 1 meets it: measured ÷ target for a
rate, target ÷ measured for a latency or a duration) and whether the run verified its end
state. A benchmark that is missing, fails, or prints no RESULT line for a figure shows it
as "not measured" (and its exit code) rather than stopping the others. A RESULT line for a
figure the table does not name is listed after it, without a target.

`--quick` runs smaller sizes (a smoke run: the figures are not the headline ones);
`--only` runs the named benchmarks (the names in `--list`). The exit code is 0 when every
figure was measured, verified and met its target, else 1.

To adjust what runs, edit BENCHES (script, arguments, quick arguments) and TARGETS.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Bench:
    name: str
    script: str  # under bench/
    args: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()  # instead of args with --quick
    url_option: str | None = "--postgres-url"  # how it is told the PostgreSQL server


@dataclass(frozen=True)
class Target:
    """`kind`: "min" (at least `value`), "max" (below `value`), or "exact" (verified only)."""

    figure: str  # a name, or a pattern such as large_order_*
    bench: str  # the BENCHES entry that measures it
    kind: str
    value: float = 0.0
    unit: str = ""

    def describe(self) -> str:
        if self.kind == "exact":
            return "exact end state"
        sign = "≥" if self.kind == "min" else "<"
        return f"{sign} {self.value:,g} {self.unit}".strip()

    def ratio(self, measured: float) -> float | None:
        if self.kind == "min":
            return measured / self.value
        if self.kind == "max":
            return self.value / measured if measured > 0 else float("inf")
        return None

    def met(self, result: Result) -> bool:
        ratio = self.ratio(result.value)
        return result.verified and (ratio is None or ratio >= 1.0)


@dataclass
class Result:
    figure: str
    value: float
    unit: str
    verified: bool
    bench: str = ""


@dataclass
class Outcome:
    bench: Bench
    code: int | None = None  # None: not run (missing script)
    seconds: float = 0.0
    results: list[Result] = field(default_factory=list)
    note: str = ""


BENCHES = [
    Bench(
        "pipeline_postgres",
        "lifecycle.py",
        ("--backend", "postgres", "--client-mode", "process"),
        ("--backend", "postgres", "--client-mode", "process", "--orders", "200"),
    ),
    Bench(
        "pipeline_sqlite",
        "lifecycle.py",
        ("--backend", "sqlite"),
        ("--backend", "sqlite", "--orders", "200"),
        url_option=None,
    ),
    Bench(
        "api_single",
        "api_pipeline.py",
        ("--mode", "single"),
        ("--mode", "single", "--orders", "300"),
    ),
    Bench(
        "api_bulk", "api_pipeline.py", ("--mode", "bulk"), ("--mode", "bulk", "--orders", "1000")
    ),
    Bench("availability", "availability.py", (), ("--requests", "100", "--rounds", "1")),
    Bench("hot_sku", "reservation_load.py", (), ("--seconds", "2"), url_option="--database-url"),
    Bench(
        "scale",
        "scale.py",
        (),
        ("--orders", "600", "--small-orders", "200", "--ship", "50", "--clients", "8"),
    ),
    Bench(
        "routing",
        "routing.py",
        ("--locations", "500", "--lines", "10"),
        ("--locations", "500", "--lines", "10", "--instances", "50"),
        url_option=None,
    ),
    Bench(
        "import",
        "inventory.py",
        ("--backend", "postgres", "--skip-api", "--skip-reservations"),
        ("--backend", "postgres", "--skip-api", "--skip-reservations", "--records", "50000"),
    ),
    Bench("large_order", "large_order.py", (), ()),
    Bench("console", "console.py", (), ("--repeat", "3")),
    Bench("webhooks", "webhooks.py", (), ("--events", "400", "--latency-events", "50")),
]

TARGETS = [
    Target("pipeline_postgres_processes", "pipeline_postgres", "min", 500, "orders/s"),
    Target("pipeline_sqlite", "pipeline_sqlite", "min", 200, "orders/s"),
    Target("api_single_postgres", "api_single", "min", 150, "orders/s"),
    Target("api_bulk_postgres", "api_bulk", "min", 400, "orders/s"),
    Target("availability_p99_locations", "availability", "max", 10, "ms"),
    Target("availability_p99_group", "availability", "max", 10, "ms"),
    Target("hot_sku_reservations", "hot_sku", "min", 2000, "reservations/s"),
    Target("scale_4x4*", "scale", "exact"),
    Target("routing_fewest_splits_p99", "routing", "max", 5, "ms"),
    Target("routing_optimal_p99", "routing", "max", 50, "ms"),
    Target("import_1m", "import", "max", 60, "s"),
    Target("large_order_*", "large_order", "exact"),
    Target("console_order_page_ms_*", "console", "max", 500, "ms"),
]


# --- running -----------------------------------------------------------------------------------


def parse_result(line: str) -> Result | None:
    """The Result of a `RESULT {json}` line; None for any other line or a malformed one."""
    if not line.startswith("RESULT "):
        return None
    try:
        data: Any = json.loads(line[len("RESULT ") :])
        return Result(
            figure=str(data["figure"]),
            value=float(data["value"]),
            unit=str(data.get("unit", "")),
            verified=data.get("verified") is True,
        )
    except (ValueError, KeyError, TypeError):
        return None


def run_bench(bench: Bench, *, quick: bool, postgres_url: str, timeout: float) -> Outcome:
    outcome = Outcome(bench)
    script = HERE / bench.script
    if not script.is_file():
        outcome.note = f"bench/{bench.script} is not in this build"
        return outcome
    command = [sys.executable, str(script), *(bench.quick if quick else bench.args)]
    if bench.url_option:
        command += [bench.url_option, postgres_url]
    print(f"==> {bench.name}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=HERE.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    reader = threading.Thread(target=_relay, args=(process, outcome), daemon=True)
    reader.start()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        outcome.note = f"stopped after {timeout:.0f} s"
    reader.join()
    outcome.code = process.wait()
    outcome.seconds = time.monotonic() - started
    if outcome.code and not outcome.note:
        outcome.note = f"exit code {outcome.code}"
    return outcome


def _relay(process: subprocess.Popen[str], outcome: Outcome) -> None:
    """Print the bench's output as it comes, prefixed, and keep its RESULT lines."""
    assert process.stdout is not None
    for line in process.stdout:
        print(f"[{outcome.bench.name}] {line}", end="", flush=True)
        result = parse_result(line.strip())
        if result is not None:
            result.bench = outcome.bench.name
            outcome.results.append(result)


# --- the table --------------------------------------------------------------------------------


def _value(result: Result) -> str:
    return f"{result.value:,.4g} {result.unit}".strip()


def table(targets: list[Target], outcomes: list[Outcome]) -> tuple[list[str], bool]:
    """The §11 table (markdown) and whether every target was measured, verified and met."""
    results = [r for o in outcomes for r in o.results]
    notes = {o.bench.name: o.note for o in outcomes if o.note}
    lines = [
        "| figure | target | measured | ratio to target | verified |",
        "|---|---|---|---|---|",
    ]
    all_met = True
    claimed: set[int] = set()
    for target in targets:
        matching = [r for r in results if fnmatch.fnmatchcase(r.figure, target.figure)]
        claimed |= {id(r) for r in matching}
        if not matching:
            all_met = False
            lines.append(f"| {target.figure} | {target.describe()} | not measured | — | — |")
            continue
        for r in matching:
            ratio = target.ratio(r.value)
            shown = "—" if ratio is None else f"{ratio:.2f}×"
            all_met = all_met and target.met(r)
            verified = "yes" if r.verified else "NO"
            lines.append(
                f"| {r.figure} | {target.describe()} | {_value(r)} | {shown} | {verified} |"
            )
    for r in results:
        if id(r) not in claimed:
            verified = "yes" if r.verified else "NO"
            lines.append(f"| {r.figure} | (none) | {_value(r)} | — | {verified} |")
    for bench, note in notes.items():
        lines.append(f"\n{bench}: {note}")
    return lines, all_met


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--only", default="", help="comma-separated bench names (see --list)")
    parser.add_argument("--list", action="store_true", help="name the benchmarks and stop")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("OPENOMS_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for bench in BENCHES:
            print(f"{bench.name:<18} bench/{bench.script} {' '.join(bench.args)}")
        return 0
    only = {name for name in args.only.split(",") if name}
    unknown = only - {b.name for b in BENCHES}
    if unknown:
        print(f"unknown bench(es): {', '.join(sorted(unknown))} (see --list)", file=sys.stderr)
        return 2
    chosen = [b for b in BENCHES if not only or b.name in only]
    outcomes = [
        run_bench(b, quick=args.quick, postgres_url=args.postgres_url, timeout=args.timeout)
        for b in chosen
    ]
    # With --only, the table names the figures of the chosen benchmarks alone.
    targets = [t for t in TARGETS if t.bench in {b.name for b in chosen}]
    lines, all_met = table(targets, outcomes)
    print()
    print(
        "DESIGN §11" + (" (quick: smaller sizes, not the headline figures)" if args.quick else "")
    )
    print("\n".join(lines))
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
