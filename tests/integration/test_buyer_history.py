"""A shop's buyer marks (``store.buyer_history``): the first refund and dispute of a buyer, one write per identifier
per refund message, kept for the retention after the buyer's latest refund."""

from datetime import timedelta

from chalicelib.store import buyer_history
from chalicelib.store.models import Stats

SELLER = "2200000099"
HASHES = ("nick-hash", "uid-hash")


def test_a_dispute_is_one_write_per_identifier_and_keeps_the_first_times(aws, clock, monkeypatch):
    writes = []
    real = Stats.update
    monkeypatch.setattr(Stats, "update", lambda self, *a, **kw: writes.append(self.bucket) or real(self, *a, **kw))
    first = clock.now()

    buyer_history.mark_refund(SELLER, HASHES, dispute=False, now=first)
    clock.advance(86_400)
    buyer_history.mark_refund(SELLER, HASHES, dispute=True, now=clock.now())
    clock.advance(86_400)
    buyer_history.mark_refund(SELLER, (*HASHES, "", "uid-hash"), dispute=True, now=clock.now())

    assert len(writes) == 6  # two identifiers, three messages; blanks and repeats are not written
    marks = buyer_history.read_many(SELLER, HASHES)
    dispute_at = int((first + timedelta(days=1)).timestamp())
    for h in HASHES:
        assert marks[h] == buyer_history.BuyerHistory(refund_at=int(first.timestamp()), dispute_at=dispute_at)


def test_the_marks_are_kept_for_the_retention_after_the_latest_refund(aws, clock):
    buyer_history.mark_refund(SELLER, HASHES[:1], dispute=False, now=clock.now())
    clock.advance(170 * 86_400)
    buyer_history.mark_refund(SELLER, HASHES[:1], dispute=False, now=clock.now())

    item = Stats.get(SELLER, buyer_history.PREFIX + HASHES[0])
    assert item.expire_at == (clock.now() + buyer_history.RETENTION).replace(microsecond=0)
