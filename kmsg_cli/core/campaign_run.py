"""The send-bulk use case: one run of a campaign, from taking it to giving it back.

    take -> settle -> preview -> (the caller confirms) -> send -> finish

A campaign is taken first (one live run per campaign), and the rows an earlier run left unanswered
are settled with the provider (core/settle.py) before the preview counts what is left, so the
preview, --max-cost and "nothing to send" all see the rows settlement frees. The command supplies
the rows (a re-readable CSV), the confirmation and the rendering; this module decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from kmsg_cli.core import bulk, campaign, campaign_hold, korea, ledger, service
from kmsg_cli.core.bulk import Spec, Summary
from kmsg_cli.core.campaign import Item, RowResult
from kmsg_cli.core.ports import Env
from kmsg_cli.core.service import Planned
from kmsg_cli.core.settle import Settled
from kmsg_cli.errors import ExitCode, KmsgError, TemporaryError

Rows = Callable[[], tuple[Sequence[str], Iterator[tuple[int, list[str]]]]]  # (header, rows)
COUNT_BATCH = 500  # rows looked up in the ledger at once by the preview


@dataclass
class CampaignRun:
    env: Env
    spec: Spec
    campaign_id: str
    rows: Rows
    run_id: str  # tells a row repeated in this file from one sent by an earlier run

    @property
    def store(self) -> Any:
        return self.env.store()

    def check_header(self, header: Sequence[str]) -> None:
        """A bad header or --text is one error (65) before the campaign is taken."""
        bulk.columns(header, self.spec)

    def items(self, env: Env, *, preview: bool) -> Iterator[Item]:
        """(row, recipient as written, plan or the reason it is invalid), one row at a time."""
        header, rows = self.rows()
        cols = bulk.columns(header, self.spec)
        for number, values in rows:
            to = values[cols.header.index(cols.to)] if len(values) == len(header) else ""
            try:
                to, draft = bulk.draft(values, cols, self.spec)
                planned = service.plan_one(draft, to, env, preview=preview)
                if planned.message.ad:
                    korea.check_ad(planned.message)
                yield number, to, campaign.prepare(planned, self.campaign_id, number, self.run_id)
            except KmsgError as exc:
                if exc.exit_code != ExitCode.DATAERR:  # a config problem (no route): not the row's
                    raise
                yield number, to, exc

    # -- the steps, in order ----------------------------------------------------------------

    def take(self, owner: str, source: str, alive: Callable[[str, int], bool]) -> None:
        """Own the campaign for this run, or TemporaryError (75) naming the live run holding it."""
        now = self.env.clock.now_ms()
        spec = asdict(self.spec)
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
        are counted apart (not sent this time). Nothing is written."""
        summary, batch = Summary(), []
        for _row, _to, plan in self.items(self.env, preview=True):
            summary.rows += 1
            if isinstance(plan, KmsgError):
                summary.invalid += 1
                continue
            summary.valid += 1
            batch.append(plan)
            if len(batch) >= COUNT_BATCH:
                self._count(summary, batch)
                batch = []
        self._count(summary, batch)
        return summary

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
