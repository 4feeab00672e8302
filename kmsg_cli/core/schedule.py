"""Tracking schedule: when a record is checked, and when it is given up
(docs/tracking.md#polling-schedule)."""

from __future__ import annotations

from dataclasses import dataclass

SECOND = 1000


@dataclass(frozen=True)
class Schedule:
    initial_delay_s: int = 30
    scheduled_grace_s: int = 120
    backoff_s: tuple[int, ...] = (30, 120, 600, 1800, 7200)
    max_duration_s: int = 86_400

    def first_check(self, accepted_at: int, scheduled_at: int | None) -> int:
        """30 s after acceptance; a scheduled send: its time + 2 min (TRK-14, TRK-16)."""
        if scheduled_at is not None and scheduled_at > accepted_at:
            return scheduled_at + self.scheduled_grace_s * SECOND
        return accepted_at + self.initial_delay_s * SECOND

    def next_check(self, attempts: int, now: int) -> int:
        """Wait after the n-th check (n = attempts >= 1): 30 s, 2 min, 10 min, 30 min, then 2 h."""
        if not self.backoff_s:
            return now + 60 * SECOND
        index = min(max(attempts, 1) - 1, len(self.backoff_s) - 1)
        return now + self.backoff_s[index] * SECOND

    def tracking_start(self, requested_at: int, scheduled_at: int | None) -> int:
        if scheduled_at is not None and scheduled_at > requested_at:
            return scheduled_at + self.scheduled_grace_s * SECOND
        return requested_at

    def timed_out(self, requested_at: int, scheduled_at: int | None, now: int) -> bool:
        return now - self.tracking_start(requested_at, scheduled_at) > self.max_duration_s * SECOND
