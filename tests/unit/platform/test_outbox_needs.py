"""`Needs`: the event names a consumer needs a delivery of."""

from __future__ import annotations

from openoms.adapters.outbox import EVERYTHING, NOTHING, Needs


def test_names_or_every_name_but_those() -> None:
    some = Needs(frozenset({"order_summary.created"}))
    assert "order_summary.created" in some
    assert "payment.authorized" not in some
    all_but = Needs(frozenset({"webhook.test"}), every=True)
    assert "payment.authorized" in all_but
    assert "webhook.test" not in all_but
    assert "anything" in EVERYTHING
    assert "anything" not in NOTHING
