"""The send-bulk use case: one run of a campaign, from taking it to giving it back.

    take -> settle -> preview -> (the caller confirms) -> send -> finish

A campaign is taken first (one live run per campaign), and the rows an earlier run left unanswered
are settled with the provider (core/settle.py) before the preview counts what is left, so the
preview, --max-cost and "nothing to send" all see the rows settlement frees. The command supplies
the rows (a re-readable CSV), the confirmation and the rendering; this module decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from kmsg_cli.core import (
    bulk,
    campaign,
    campaign_hold,
    gcpace,
    ledger,
)
from kmsg_cli.core.bulk import Spec, Summary
from kmsg_cli.core.campaign import Item, RowResult
from kmsg_cli.core.ports import Env
from kmsg_cli.core.row_planner import RowPlanner
from kmsg_cli.core.service import Planned
from kmsg_cli.core.settle import Settled
from kmsg_cli.errors import ExitCode, KmsgError, TemporaryError

Rows = Callable[[], tuple[Sequence[str], Iterator[tuple[int, list[str]]]]]  # (header, rows)
COUNT_BATCH = 500  # rows looked up in the ledger at once by the preview


PROBLEMS_KEPT = 20  # invalid rows the preview keeps to name when nothing is left to send


@dataclass
class CampaignRun:
    env: Env
    spec: Spec
    campaign_id: str
    rows: Rows
    run_id: str  # tells a row repeated in this file from one sent by an earlier run
    ran_before: bool = True  # take() learns it; until then the preview asks the ledger

    @property
    def store(self) -> Any:
        return self.env.store()

    def check_header(self, header: Sequence[str]) -> None:
        """A bad header or --text is one error (65) before the campaign is taken."""
        bulk.columns(header, self.spec)

    def items(
        self, env: Env, *, preview: bool, keys: bool = True, count_only: bool = False
    ) -> Iterator[Item]:
        """(row, recipient as written, plan or the reason it is invalid), one row at a time.
        ``keys`` False: a count that never asks the ledger may leave the common rows unkeyed;
        ``count_only`` too: their plans then carry only what Summary.add reads (type, ad,
        route, bytes), not the message itself."""
        header, rows = self.rows()
        plan = RowPlanner(
            header,
            self.spec,
            env,
            self.campaign_id,
            self.run_id,
            preview=preview,
            keys=keys,
            count_only=count_only,
        )
        for number, values in rows:
            yield plan(number, values)

    # -- the steps, in order ----------------------------------------------------------------

    def take(self, owner: str, source: str, alive: Callable[[str, int], bool]) -> None:
        """Own the campaign for this run, or TemporaryError (75) naming the live run holding it."""
        now = self.env.clock.now_ms()
        spec = asdict(self.spec)
        self.ran_before = self.store.campaign(self.campaign_id) is not None
        holder = self.store.claim_campaign(self.campaign_id, source, spec, owner, now, alive)
        if holder is not None:
            raise TemporaryError(
                f"job {self.campaign_id} is being sent by {holder.owner}; nothing sent",
                hint="wait for it to finish (rerunning then sends only what is left)",
            )

    def settle(self) -> Settled:
        return campaign.reconcile(self.campaign_id, self.env)

    def preview(self) -> Summary:
        """Check every row and count what would be sent; rows already sent, and rows not settled,
        are counted apart (not sent this time). Nothing is written. The ledger is asked only when
        an earlier run of this campaign wrote any row."""
        summary = Summary()
        # rows an earlier run held in the queue (--at, --defer) are recorded under their queue
        # jobs, not the campaign: a campaign taken before always asks the ledger
        earlier = self.ran_before or bool(self.store.list_records(job=self.campaign_id, limit=1))
        rows = self.items(self.env, preview=True, keys=earlier, count_only=not earlier)
        with gcpace.few_collections():
            self._count_rows(summary, rows, earlier)
        return summary

    def _count_rows(self, summary: Summary, rows: Iterable[Item], earlier: bool) -> None:
        batch: list[Planned] = []
        for row, to, plan in rows:
            summary.rows += 1
            if isinstance(plan, KmsgError):
                summary.invalid += 1
                if len(summary.problems) < PROBLEMS_KEPT:
                    summary.problems.append((row, to, plan.message))
                continue
            summary.valid += 1
            summary.warn(row, plan.warnings)
            if not earlier:
                summary.add(plan.message, plan.route[0], plan.bytes, self.env.prices)
                continue
            batch.append(plan)
            if len(batch) >= COUNT_BATCH:
                self._count(summary, batch)
                batch = []
        self._count(summary, batch)

    def _count(self, summary: Summary, batch: list[Planned]) -> None:
        latest = self.store.latest_attempts(p.message.idempotency_key or "" for p in batch)
        for p in batch:
            earlier = latest.get((p.message.idempotency_key or "", p.message.to))
            verdict = ledger.decide(p.message, earlier).verdict
            if verdict is ledger.Verdict.ACCEPTED:
                summary.sent_before += 1
            elif verdict is ledger.Verdict.SETTLE:
                summary.unsettled += 1
            elif verdict is ledger.Verdict.HELD:  # held in the queue by a scheduled run
                summary.queued_before += 1
            else:
                summary.add(p.message, p.route[0], p.bytes, self.env.prices)

    def check(self, summary: Summary, max_cost: float | None) -> None:
        """What refuses the whole run before anything is sent: an ad at night (75), the cost."""
        campaign_hold.check_ads(summary, self.spec, self.env.clock.now_ms())
        summary.check_cost(max_cost)

    def send(
        self,
        owner: str,
        emit: Callable[[list[RowResult]], None],
        stop: Callable[[], bool],
        *,
        concurrency: int,
        rate: float | None,
    ) -> bool:
        """Send every row the ledger lets out; True when stopped early. A heartbeat every 30 s
        tells other hosts this run is alive."""
        env = campaign.locked(self.env)
        beat = [env.clock.now_ms()]

        def report(results: list[RowResult]) -> None:
            emit(results)
            now = env.clock.now_ms()
            if now - beat[0] >= 30_000:
                beat[0] = now
                self.store.heartbeat_campaign(self.campaign_id, owner, now)

        # rows due later (--at, --defer) are held in the queue as they pass; the rest are sent
        holder = campaign_hold.Holder(env, self.spec, self.campaign_id, self.run_id, report, stop)
        with gcpace.few_collections():
            stopped = campaign.send_rows(
                holder.split(self.items(env, preview=False)),
                env,
                emit=report,
                stop=stop,
                concurrency=concurrency,
                rate=rate,
            )
        return stopped or holder.stopped

    def finish(self, owner: str, state: str, counts: dict[str, int]) -> None:
        self.store.finish_campaign(self.campaign_id, owner, state, counts, self.env.clock.now_ms())


def nothing_to_send(summary: Summary) -> ExitCode:
    """The exit code when the preview leaves nothing to send."""
    if summary.unsettled:
        return ExitCode.TEMPFAIL
    return ExitCode.FAILED if summary.invalid else ExitCode.OK


def exit_code(
    counts: dict[str, int], *, fatal: int | None, stopped: bool, interrupted: bool
) -> int:
    """0 only when every row is accepted now or before; 75 while any outcome is unknown."""
    if fatal:
        return fatal
    if stopped:
        return ExitCode.INTERRUPTED if interrupted else ExitCode.TEMPFAIL
    if counts.get("unknown"):
        return ExitCode.TEMPFAIL
    if counts.get("failed") or counts.get("invalid") or counts.get("suppressed"):
        return ExitCode.FAILED
    return ExitCode.OK
