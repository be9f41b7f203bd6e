"""Token buckets kept in the desk (`rate_buckets`, schema v8), so that every server process of
a desk counts one budget together (`serve --workers N`, several servers on one PostgreSQL).

A take is one statement a bucket: the upsert refills the bucket to its level at `now`,
spends one token only when there is one, and returns what is left; no row back means there
was none. `take_all` spends from every bucket or from none (one transaction).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.store.desk import Desk

#: Refill to `now`, capped at the capacity: the bucket's level before this take.
_LEVEL = (
    "CASE WHEN rate_buckets.tokens + (:now - rate_buckets.counted_at) * :rate > :cap"
    " THEN :cap ELSE rate_buckets.tokens + (:now - rate_buckets.counted_at) * :rate END"
)
TAKE_SQL = (
    "INSERT INTO rate_buckets (key, tokens, counted_at, full_at)"
    " VALUES (:key, :cap - 1, :now, :now + CAST(1 / :rate AS BIGINT))"
    f" ON CONFLICT (key) DO UPDATE SET tokens = {_LEVEL} - 1, counted_at = :now,"
    f" full_at = :now + CAST((:cap - ({_LEVEL} - 1)) / :rate AS BIGINT)"
    f" WHERE {_LEVEL} >= 1"
    " RETURNING tokens"
)


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    capacity: float
    #: tokens a millisecond
    rate: float


class Short(Exception):
    """A bucket without a token: how long until it has one (ms)."""

    def __init__(self, bucket: Bucket, wait_ms: float) -> None:
        super().__init__(bucket.key)
        self.bucket = bucket
        self.wait_ms = wait_ms


def take_all(desk: Desk, buckets: list[Bucket], now_ms: int) -> None:
    """Spend one token of every bucket, or none (`Short` names the first without one)."""
    with desk.transaction() as conn:
        if desk.dialect == "postgresql":  # a budget lost in a crash costs nothing: no fsync
            conn.execute("SET LOCAL synchronous_commit TO OFF")
        for bucket in buckets:
            params = {"key": bucket.key, "cap": bucket.capacity, "rate": bucket.rate, "now": now_ms}
            if conn.execute(TAKE_SQL, params).fetchone() is None:
                row = conn.execute(
                    "SELECT tokens, counted_at FROM rate_buckets WHERE key = ?", (bucket.key,)
                ).fetchone()
                level = min(bucket.capacity, row[0] + (now_ms - row[1]) * bucket.rate)
                raise Short(bucket, (1.0 - level) / bucket.rate)


def forget_full(desk: Desk, now_ms: int) -> int:
    """Drop the rows of buckets full again by `now_ms` (a missing row is a full bucket)."""
    with desk.transaction() as conn:
        return conn.execute("DELETE FROM rate_buckets WHERE full_at <= ?", (now_ms,)).rowcount
