"""`make bench`'s table (bench/all.py): RESULT lines parsed, figures matched to their targets,
the ratio to each target, and what is missing shown as not measured."""

from __future__ import annotations

from bench.all import BENCHES, TARGETS, Bench, Outcome, Result, Target, parse_result, table


def outcome(name: str, *results: Result, note: str = "") -> Outcome:
    return Outcome(Bench(name, f"{name}.py"), code=0, results=list(results), note=note)


def test_a_result_line_is_parsed_and_anything_else_is_not() -> None:
    line = 'RESULT {"figure": "x", "value": 12.5, "unit": "ms", "verified": true}'
    assert parse_result(line) == Result("x", 12.5, "ms", True)
    assert parse_result('RESULT {"figure": "x", "value": 1}') == Result("x", 1.0, "", False)
    assert parse_result('RESULT {"figure": "x", "value": 1, "verified": "yes"}') == Result(
        "x", 1.0, "", False
    )  # only a JSON true verifies
    for other in ("result {}", "RESULT not json", 'RESULT {"value": 1}', "RESULT [1]", ""):
        assert parse_result(other) is None, other


def test_ratios_say_how_many_times_the_target_was_met() -> None:
    rate = Target("r", "b", "min", 500, "orders/s")
    latency = Target("l", "b", "max", 10, "ms")
    assert rate.ratio(250) == 0.5
    assert latency.ratio(5) == 2.0
    assert latency.ratio(0) == float("inf")
    assert Target("e", "b", "exact").ratio(3) is None
    assert rate.describe() == "≥ 500 orders/s"
    assert latency.describe() == "< 10 ms"
    assert Target("e", "b", "exact").describe() == "exact end state"


def test_the_table_shows_measured_missing_and_extra_figures() -> None:
    targets = [
        Target("fast", "a", "min", 100, "orders/s"),
        Target("quick_p99", "a", "max", 10, "ms"),
        Target("scale_4x4_*", "b", "exact"),
        Target("gone", "c", "min", 1, "x/s"),
    ]
    outcomes = [
        outcome(
            "a",
            Result("fast", 150, "orders/s", True),
            Result("quick_p99", 20, "ms", True),
            Result("extra", 3, "s", False),
        ),
        outcome("b", Result("scale_4x4_10000", 42, "orders/s", True)),
        outcome("c", note="exit code 2"),
    ]
    lines, all_met = table(targets, outcomes)

    assert lines[2:] == [
        "| fast | ≥ 100 orders/s | 150 orders/s | 1.50× | yes |",
        "| quick_p99 | < 10 ms | 20 ms | 0.50× | yes |",
        "| scale_4x4_10000 | exact end state | 42 orders/s | — | yes |",
        "| gone | ≥ 1 x/s | not measured | — | — |",
        "| extra | (none) | 3 s | — | NO |",
        "\nc: exit code 2",
    ]
    assert all_met is False


def test_every_target_met_and_verified_is_all_met_and_an_unverified_one_is_not() -> None:
    targets = [Target("fast", "a", "min", 100), Target("exact_*", "a", "exact")]
    good = outcome("a", Result("fast", 100, "", True), Result("exact_1", 1, "", True))
    bad = outcome("a", Result("fast", 100, "", True), Result("exact_1", 1, "", False))
    assert table(targets, [good])[1] is True
    assert table(targets, [bad])[1] is False


def test_every_target_names_a_bench_that_runs() -> None:
    names = {b.name for b in BENCHES}
    assert {t.bench for t in TARGETS} <= names
    assert len(names) == len(BENCHES)
