from datetime import UTC, datetime, timedelta

from mdtool.webhook.receipts import ReceiptTimes

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_first_receipt_time_is_kept_for_retries() -> None:
    receipts = ReceiptTimes()
    assert receipts.claim("d1", T0) == (T0, True)
    assert receipts.claim("d1", T0 + timedelta(seconds=5)) == (T0, False)
    assert receipts.claim("d2", T0 + timedelta(seconds=5)) == (T0 + timedelta(seconds=5), True)


def test_remember_replaces_with_the_stored_time() -> None:
    receipts = ReceiptTimes()
    receipts.claim("d1", T0)
    receipts.remember("d1", T0 - timedelta(hours=1))
    assert receipts.claim("d1", T0) == (T0 - timedelta(hours=1), False)


def test_capacity_evicts_the_least_recently_used() -> None:
    receipts = ReceiptTimes(capacity=2)
    receipts.claim("a", T0)
    receipts.claim("b", T0)
    receipts.claim("a", T0)  # a is now the most recent
    receipts.claim("c", T0)
    assert receipts.claim("a", T0)[1] is False
    assert receipts.claim("b", T0)[1] is True
