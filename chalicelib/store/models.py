"""PynamoDB models: one per table; each resolves its table name and region from the container's settings, and the
container keeps its connection."""

from __future__ import annotations

from pynamodb.attributes import (
    Attribute,
    BooleanAttribute,
    JSONAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection, TableConnection
from pynamodb.constants import BINARY
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.container import container

PAY_PER_REQUEST = "PAY_PER_REQUEST"


class _Bound(type):
    """Metaclass of the models' ``Meta``: the table name comes from the settings in force.

    Resolved on every access rather than assigned once, so no import order or forgotten bind step can send a
    request with an empty table name: the first access builds the container, as in Lambda, as everywhere.
    The region comes with the connection (``_Model``); the endpoint stays None so botocore applies the standard
    ``AWS_ENDPOINT_URL`` variables itself, as it does for every other client.
    """

    @property
    def table_name(cls) -> str:
        return container().settings.table(cls.logical_name)


class HexDigestAttribute(Attribute[str]):
    """A hex digest (a buyer's keyed hash), stored as the bytes it spells: half the size of its text, on an item
    that every trade leaves for half a year. The app reads and writes the hex text."""

    attr_type = BINARY

    def serialize(self, value: str) -> bytes:
        return bytes.fromhex(value)

    def deserialize(self, value: bytes) -> str:
        return bytes(value).hex()


class _Meta(metaclass=_Bound):
    billing_mode = PAY_PER_REQUEST
    region = None
    host = None
    max_pool_connections = 32  # a worker handles a batch's records concurrently


class _RuntimeConnection(Connection):
    """PynamoDB's connection on the container's one botocore session (PynamoDB would make a session per thread,
    each parsing DynamoDB's service model again), and every table's on one DynamoDB client."""

    @property
    def session(self):
        return container().botocore_session

    @property
    def client(self):
        # PynamoDB creates a client per table on its first request. A worker's records start together, so each
        # thread would create its own at once: botocore's client creation is not thread-safe, each parses the
        # service model again while none is cached (about 0.1 s each), and each table kept a pool of connections
        # of its own. Built once, under the container's lock, with PynamoDB's settings (``Connection.client``).
        return container().kept("pynamodb_client", lambda: Connection.client.fget(self))


class _Model(Model):
    """A model whose connection the container keeps, so ``reset()`` forgets it with the rest of the runtime."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        return container().kept(("pynamodb", cls), cls._connect)

    @classmethod
    def _connect(cls) -> TableConnection:
        cls._connection = None
        table = super()._get_connection()  # PynamoDB's own, for the table's schema
        cls._connection = None
        schema = table.get_meta_table()
        # The Meta sets no endpoint and PynamoDB's default timeouts and retries, which the connection takes itself.
        table.connection = _RuntimeConnection(
            region=container().settings.region, max_pool_connections=cls.Meta.max_pool_connections
        )
        table.connection.add_meta_table(schema)
        return table


class NickIndex(GlobalSecondaryIndex):
    """Billing messages name a seller by nick only."""

    class Meta:
        index_name = "by_nick"
        projection = KeysOnlyProjection()

    nick = UnicodeAttribute(hash_key=True)


class _SellerShardIndex(GlobalSecondaryIndex):
    # Every per-seller job pages its candidates through one of these sparse, keys-only indexes, spread over
    # ``shard`` partitions (never a Scan): ``shard`` is present only while the seller is not purged.
    class Meta:
        projection = KeysOnlyProjection()

    shard = NumberAttribute(hash_key=True)


class ShardIndex(_SellerShardIndex):
    """Every seller not purged, in pages per shard: the daily reconcile's candidates."""

    class Meta(_SellerShardIndex.Meta):
        index_name = "by_shard"

    seller_id = UnicodeAttribute(range_key=True)


class TokenDueIndex(_SellerShardIndex):
    """Sellers with refreshable tokens, by the tokens' expiry: the hourly tokens job asks for those due soon."""

    class Meta(_SellerShardIndex.Meta):
        index_name = "token_due"

    token_due_at = NumberAttribute(range_key=True)


class BillingDueIndex(_SellerShardIndex):
    """Sellers by the time the daily billing pass must look at them next."""

    class Meta(_SellerShardIndex.Meta):
        index_name = "billing_due"

    billing_at = NumberAttribute(range_key=True)


class Seller(_Model):
    """A subscribed shop: identity, status, plan, settings, encrypted tokens."""

    class Meta(_Meta):
        logical_name = "Sellers"

    seller_id = UnicodeAttribute(hash_key=True)
    nick = UnicodeAttribute()
    by_nick = NickIndex()
    status = UnicodeAttribute(default="active")  # active | reauth | lapsed | purged
    plan = UnicodeAttribute(null=True)
    paid_until = NumberAttribute(null=True)  # epoch seconds, derived from Orders
    settings = JSONAttribute(null=True)
    settings_version = NumberAttribute(default=0)
    tokens = JSONAttribute(null=True)  # KMS envelope blobs, never plaintext
    token_expires_at = NumberAttribute(null=True)
    refresh_expires_at = NumberAttribute(null=True)
    rotation = NumberAttribute(default=0)
    reminders_sent = UnicodeSetAttribute(null=True)  # "<paid_until>:<days>" expiry reminders already sent
    entitled_since = NumberAttribute(null=True)  # when billing last turned entitlement on (holds are lifted again)
    sessions_valid_after = NumberAttribute(null=True)  # sessions issued at or before this second are ended
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    purge_at = TTLAttribute(null=True)
    # Written by ``store.seller_marks`` (single-attribute updates): whether the marketplace sends the seller's
    # messages to the app (``taobao.tmc.user.permit`` succeeded; False or absent: tried again), how far its
    # refunds were read, and the install backfill's progress (``backfill_run`` names the run it belongs to).
    messages_permitted = BooleanAttribute(null=True)
    refunds_synced_at = NumberAttribute(null=True)
    backfill = JSONAttribute(null=True)
    backfill_run = NumberAttribute(null=True)
    # Derived by ``store.sellers`` on every save: the per-seller jobs' index keys (see the indexes above).
    shard = NumberAttribute(null=True)
    token_due_at = NumberAttribute(null=True)
    billing_at = NumberAttribute(null=True)  # kept by the billing services; present unless purged
    by_shard = ShardIndex()
    token_due = TokenDueIndex()
    billing_due = BillingDueIndex()
    # Set before the seller's first blacklist entry is written and never cleared: a seller without one costs
    # the review path no Blacklist query.
    has_blacklist = BooleanAttribute(null=True)
    # The seller's group robots (``store.robots``): per channel the KMS-encrypted credential, a display hint, and
    # the robot's state (throttled until, refused with a reason). Written by single-attribute updates.
    robots = JSONAttribute(null=True)
    robots_rev = NumberAttribute(null=True)  # bumped by every change of ``robots`` (the guard of its updates)
    # When the seller paused automatic reviews (absent: they run); written by ``store.seller_marks``.
    review_paused_at = NumberAttribute(null=True)


class DueIndex(GlobalSecondaryIndex):
    """Sparse index of tasks waiting for the sweep, spread over ``due_shard`` partitions."""

    class Meta:
        index_name = "due"
        projection = KeysOnlyProjection()

    due_shard = NumberAttribute(hash_key=True)
    due_at = NumberAttribute(range_key=True)


class TradeEndIndex(GlobalSecondaryIndex):
    """A seller's tasks in trade order, so the seller API lists newest first and by day without a scan.

    Keys only: ``trade_end`` never changes after creation, so task transitions cost no index write.
    """

    class Meta:
        index_name = "by_trade_end"
        projection = KeysOnlyProjection()

    seller_id = UnicodeAttribute(hash_key=True)
    trade_end = NumberAttribute(range_key=True)


class FailedIndex(GlobalSecondaryIndex):
    """Sparse index of failed tasks by market day (``failed_day`` is set only while failed), for operators."""

    class Meta:
        index_name = "failed"
        projection = KeysOnlyProjection()

    failed_day = UnicodeAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


class HeldIndex(GlobalSecondaryIndex):
    """Sparse index of held tasks (``held_shard``/``held_at`` are set only while held), so the daily check finds
    a held task left without holds without scanning the table."""

    class Meta:
        index_name = "held"
        projection = KeysOnlyProjection()

    held_shard = NumberAttribute(hash_key=True)
    held_at = NumberAttribute(range_key=True)


class BadRatingIndex(GlobalSecondaryIndex):
    """Sparse index of a seller's neutral and bad buyer ratings by when they came (the bad-review center).

    ``bad_rated_at`` is set only on those ratings, so the center never reads past the good ones.
    """

    class Meta:
        index_name = "by_bad_rating"
        projection = KeysOnlyProjection()

    seller_id = UnicodeAttribute(hash_key=True)
    bad_rated_at = NumberAttribute(range_key=True)


class Task(_Model):
    """One review task per trade."""

    class Meta(_Meta):
        logical_name = "Tasks"

    seller_id = UnicodeAttribute(hash_key=True)
    tid = UnicodeAttribute(range_key=True)
    oid = UnicodeAttribute(null=True)
    state = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    holds = UnicodeSetAttribute(null=True)
    due_shard = NumberAttribute(null=True)
    due_at = NumberAttribute(null=True)
    # While claimed: when the claim lapses. The claim leaves the due index alone (moving ``due_at`` would cost
    # two index writes per review), so a task whose worker died is found again by the sweep once it lapses.
    claimed_until = NumberAttribute(null=True)
    trade_end = NumberAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    attempts = NumberAttribute(default=0)
    content = UnicodeAttribute(null=True)
    template_index = NumberAttribute(null=True)
    item_title = UnicodeAttribute(null=True)
    buyer_hash = HexDigestAttribute(null=True)
    buyer_uid_hash = HexDigestAttribute(null=True)
    buyer_masked = UnicodeAttribute(null=True)
    buyer_rating = UnicodeAttribute(null=True)
    buyer_rated_at = NumberAttribute(null=True)
    rating_applied_at = NumberAttribute(null=True)  # when every effect of the buyer's rating was done
    response = JSONAttribute(null=True)
    refunds = JSONAttribute(null=True)  # refund_id -> furthest status seen
    stub = BooleanAttribute(null=True)  # created by a message that arrived before the trade's
    rev = NumberAttribute(default=0)  # bumped by every write: the guard of read-modify-write updates
    failed_day = UnicodeAttribute(null=True)  # market day the task failed; present only while failed
    bad_rated_at = NumberAttribute(null=True)  # when a neutral/bad buyer rating came; absent for good ones
    rating_text = UnicodeAttribute(null=True)  # the buyer's words on a neutral/bad rating
    payment = NumberAttribute(null=True)  # the trade's amount in fen, for the seller's order filters
    item_id = UnicodeAttribute(null=True)  # the trade's item ids, comma-separated, once known (order_filters)
    triage = JSONAttribute(null=True)  # what rating_text complains about: category, confidence, sentiment
    explanation = MapAttribute(null=True)  # the seller's reply to the rating: state, text, at
    extortion_confirmed_at = NumberAttribute(null=True)  # the seller confirmed the rating as extortion (once)
    expire_at = TTLAttribute(null=True)

    due = DueIndex()
    by_trade_end = TradeEndIndex()
    by_failed_day = FailedIndex()
    held_shard = NumberAttribute(null=True)  # present only while held (see HeldIndex)
    held_at = NumberAttribute(null=True)
    by_held = HeldIndex()
    by_bad_rating = BadRatingIndex()


class JobRun(_Model):
    """Which sellers a run of a per-seller job (tokens, billing, reconcile) has served, and what it did for each.

    ``run`` is ``<job>#<run>#<shard>``: a run's markers spread over the seller shards, so no partition is hot.
    """

    class Meta(_Meta):
        logical_name = "JobRuns"

    run = UnicodeAttribute(hash_key=True)
    seller_id = UnicodeAttribute(range_key=True)
    outcome = JSONAttribute(null=True)  # the job's counts for this seller
    done_at = NumberAttribute()
    expire_at = TTLAttribute()


class Control(_Model):
    """Operational switches: kill switches, global pause, dry-run sets, rules override, once-markers."""

    class Meta(_Meta):
        logical_name = "Control"

    key = UnicodeAttribute(hash_key=True)
    kill_global = BooleanAttribute(null=True)
    paused_until = NumberAttribute(null=True)
    kill_sellers = UnicodeSetAttribute(null=True)
    dry_run_sellers = UnicodeSetAttribute(null=True)
    value = JSONAttribute(null=True)
    updated_at = NumberAttribute(null=True)
    expire_at = TTLAttribute(null=True)


class Order(_Model):
    """A service-market billing order; entitlement is derived from these."""

    class Meta(_Meta):
        logical_name = "Orders"

    seller_id = UnicodeAttribute(hash_key=True)
    order_id = UnicodeAttribute(range_key=True)
    biz_order_id = UnicodeAttribute(null=True)
    nick = UnicodeAttribute()
    article_code = UnicodeAttribute()
    item_code = UnicodeAttribute()
    biz_type = NumberAttribute()
    cycle_start = NumberAttribute()
    cycle_end = NumberAttribute()
    total_pay_fee = NumberAttribute()
    refund_fee = NumberAttribute(default=0)
    closed = BooleanAttribute(null=True)  # OrderClosed seen: grants only what a partial refund leaves of it
    created = NumberAttribute()
    received_at = NumberAttribute()


class Blacklist(_Model):
    """Buyers a seller never rates, by keyed hash only."""

    class Meta(_Meta):
        logical_name = "Blacklist"

    seller_id = UnicodeAttribute(hash_key=True)
    buyer_hash = UnicodeAttribute(range_key=True)
    buyer_masked = UnicodeAttribute()
    reason = UnicodeAttribute()
    added_at = NumberAttribute()
    note = UnicodeAttribute(null=True)  # the seller's own words about the buyer
    tid = UnicodeAttribute(null=True)  # the order the entry came from (a bad rating), when it came from one


class Audit(_Model):
    """Append-only record of every marketplace write and operator action."""

    class Meta(_Meta):
        logical_name = "Audit"

    seller_id = UnicodeAttribute(hash_key=True)
    ts_id = UnicodeAttribute(range_key=True, attr_name="ts#id")
    actor = UnicodeAttribute()
    action = UnicodeAttribute()
    target = UnicodeAttribute(null=True)
    result = UnicodeAttribute()
    detail = JSONAttribute(null=True)
    expire_at = TTLAttribute(null=True)


STAT_COUNTERS = (
    "posts",
    "skipped_blacklisted",
    "skipped_refunded",
    "skipped_dry_run",
    "skipped_buyer_bad_rating",
    "skipped_cancelled",
    "skipped_disabled",
    "skipped_other",
    "skipped_filtered",
    "failed",
    "expired",
    "rating_good",
    "rating_neutral",
    "rating_bad",
)


class Stats(_Model):
    """Counters per seller and market day (``2026-11-28``) or hour (``2026-11-28T13``), bumped on transitions.

    The hour buckets hold ``posts``, ``explains`` and ``write_failures`` only: they are the per-seller rate cap's
    reservation counters and the circuit breaker's evidence, and a day's posts are the sum of its hours, so
    a posted review costs one counter write, not two.
    """

    class Meta(_Meta):
        logical_name = "Stats"

    seller_id = UnicodeAttribute(hash_key=True)
    bucket = UnicodeAttribute(range_key=True)
    posts = NumberAttribute(null=True)
    skipped_blacklisted = NumberAttribute(null=True)
    skipped_refunded = NumberAttribute(null=True)
    skipped_dry_run = NumberAttribute(null=True)
    skipped_buyer_bad_rating = NumberAttribute(null=True)
    skipped_cancelled = NumberAttribute(null=True)
    skipped_disabled = NumberAttribute(null=True)
    skipped_other = NumberAttribute(null=True)
    skipped_filtered = NumberAttribute(null=True)
    failed = NumberAttribute(null=True)
    expired = NumberAttribute(null=True)
    rating_good = NumberAttribute(null=True)
    rating_neutral = NumberAttribute(null=True)
    rating_bad = NumberAttribute(null=True)
    write_failures = NumberAttribute(null=True)
    explains = NumberAttribute(null=True)  # explanations posted in the hour: they count against the cap too
    memos = NumberAttribute(null=True)  # order memos written in the hour: they count against the cap too
    robot_sends = NumberAttribute(null=True)  # messages sent to one group robot in a minute bucket (store.robots)
    # Buyer buckets (``buyer#<hash>``, ``store.buyer_history``): the buyer's first refund and dispute in the shop.
    refund_at = NumberAttribute(null=True)
    dispute_at = NumberAttribute(null=True)
    # Phrase buckets (``phrase#<hash>``, ``store.buyer_history``): the key of the review text the buyer got last,
    # and when.
    last_text = UnicodeAttribute(null=True)
    text_at = NumberAttribute(null=True)
    expire_at = TTLAttribute(null=True)


class RobotDueIndex(GlobalSecondaryIndex):
    """Sparse index of inbox items still waiting for a group robot (``robot_shard``/``robot_due_at`` are set only
    while one is), so the minute sweep finds them without scanning."""

    class Meta:
        index_name = "robot_due"
        projection = KeysOnlyProjection()

    robot_shard = NumberAttribute(hash_key=True)
    robot_due_at = NumberAttribute(range_key=True)


class Outbox(_Model):
    """Notifications to sellers and operators (reminders, alerts), written once each: the seller's inbox."""

    class Meta(_Meta):
        logical_name = "Outbox"

    seller_id = UnicodeAttribute(hash_key=True)
    ts_id = UnicodeAttribute(range_key=True, attr_name="ts#id")
    kind = UnicodeAttribute()
    message = UnicodeAttribute()
    detail = JSONAttribute(null=True)
    delivered = BooleanAttribute(default=False)
    expire_at = TTLAttribute(null=True)
    read_at = NumberAttribute(null=True)  # when the seller marked it read; absent while unread
    robots_pending = UnicodeSetAttribute(null=True)  # channels it still has to reach
    robots_sent = UnicodeSetAttribute(null=True)  # channels that took it (alone or in a digest)
    robot_attempts = NumberAttribute(null=True)
    robot_shard = NumberAttribute(null=True)
    robot_due_at = NumberAttribute(null=True)
    robot_due = RobotDueIndex()
    # A delivery attempt holds the item until then; kept apart from ``robot_due_at`` so a claim does not move the
    # item's index entry (a delete and a put of it: two write units more per attempt).
    robot_claimed_until = NumberAttribute(null=True)


class Rejected(_Model):
    """Inbound messages the app could not accept, kept for inspection instead of dropped."""

    class Meta(_Meta):
        logical_name = "Rejected"

    source = UnicodeAttribute(hash_key=True)
    ts_id = UnicodeAttribute(range_key=True, attr_name="ts#id")
    reason = UnicodeAttribute()
    message = JSONAttribute(null=True)
    expire_at = TTLAttribute(null=True)


class Signal(_Model):
    """Extortion signals shared across shops, kept per buyer hash only (``store.signals``).

    ``subject`` is a buyer hash (its signals ``shop#<shop key>`` and its flag ``flag``) or ``quota#<shop key>`` (a
    shop's confirmations per market day). A shop key is a keyed hash of the shop, used only to count distinct shops;
    no nick, text or order is stored. Every item expires (``expire_at``).
    """

    class Meta(_Meta):
        logical_name = "Signals"

    subject = UnicodeAttribute(hash_key=True)
    entry = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute(null=True)
    at = NumberAttribute(null=True)  # when the shop confirmed (epoch seconds)
    until = NumberAttribute(null=True)  # a flag: in force until then
    n = NumberAttribute(null=True)  # a quota: confirmations that day
    expire_at = TTLAttribute()


MODELS: tuple[type[Model], ...] = (
    Seller,
    Task,
    Control,
    Order,
    Blacklist,
    Audit,
    Stats,
    Outbox,
    Rejected,
    JobRun,
    Signal,
)
