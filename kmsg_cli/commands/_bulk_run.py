"""One `kmsg send-bulk` run as the command drives it: the dry run, or take, settle, preview,
confirm, send, and show what happened."""

from __future__ import annotations

import secrets
import signal
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from kmsg_cli.commands._bulk_io import CsvSource, Report, open_source, owner_alive, this_process
from kmsg_cli.commands._bulk_view import (
    DryRunWriter,
    Tally,
    cost_text,
    messages,
    show_summary,
    types_text,
    warned_text,
)
from kmsg_cli.commands._common import stop_on_signals
from kmsg_cli.core import campaign, campaign_run
from kmsg_cli.core.bulk import Spec, Summary
from kmsg_cli.core.campaign_run import CampaignRun
from kmsg_cli.core.settle import Settled
from kmsg_cli.core.times import kst
from kmsg_cli.errors import (
    Cancelled,
    ExitCode,
    Failed,
    KmsgError,
    NotConfirmed,
    TemporaryError,
)

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.context import AppContext
    from kmsg_cli.output import Output


@dataclass
class Run:
    """The command's side of a campaign: its input file, the prompt and the rendering. The
    decisions are core.campaign_run's."""

    app_ctx: AppContext
    spec: Spec
    job_id: str
    source: str
    csv: CsvSource | None = None
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def out(self) -> Output:
        return self.app_ctx.output

    def core(self) -> CampaignRun:
        assert self.csv is not None
        return CampaignRun(self.app_ctx.env(), self.spec, self.job_id, self.csv.read, self.run_id)

    # -- input ------------------------------------------------------------------------------
    def input(self, dry_run: bool) -> AbstractContextManager[CsvSource]:
        """The CSV; stdin is first copied to a private file: a temporary one for a dry run, else
        beside the database, where it is kept under the job's name once the job is taken."""
        folder = None if dry_run else self.bulk_dir
        return open_source(self.source, self.spec.encoding, folder)

    @property
    def bulk_dir(self) -> Path:
        return self.app_ctx.db_path.parent / "bulk"

    @property
    def kept(self) -> Path | None:
        """Where stdin is kept for --resume while the job is not done."""
        return self.bulk_dir / f"{self.job_id}.csv" if self.source == "-" else None

    def dry_run(self) -> int:
        run = self.core()
        summary = Summary()
        writer = DryRunWriter(self.out, self.job_id)
        try:
            for row, to, plan in run.items(run.env, preview=True, keys=False):
                summary.rows += 1
                if isinstance(plan, KmsgError):
                    summary.invalid += 1
                    writer.invalid(row, to, plan)
                    continue
                summary.valid += 1
                summary.add(plan.message, plan.route[0], plan.bytes, run.env.prices)
                summary.warn(row, plan.warnings)
                writer.valid(row, plan)
        except KmsgError as exc:
            writer.close(summary, exc)
            raise typer.Exit(exc.exit_code) from None
        if summary.first_warning is not None:
            self.out.warn(warned_text(summary))
        code = ExitCode.DATAERR if summary.invalid else ExitCode.OK
        writer.close(summary, None, code)
        return code

    # -- send -------------------------------------------------------------------------------
    def send(
        self,
        *,
        yes: bool,
        max_cost: float | None,
        concurrency: int,
        rate: float | None,
        report: Path | None,
    ) -> int:
        """Take the campaign, settle what an earlier run left unanswered, preview, confirm, send.
        The campaign is given back in every case; a kept copy of stdin goes when it is done or
        refused before sending (the same pipe again makes it anew)."""
        assert self.csv is not None
        run, owner = self.core(), this_process()
        run.check_header(self.csv.header())
        self.source = str(self.kept or self.source)
        run.take(owner, self.source, owner_alive(self.app_ctx.clock.now_ms()))
        if self.kept is not None:
            self.csv.keep(self.kept)
        state, counts = "stopped", {}
        try:
            self._settled(run.settle())
            summary = run.preview()
            if summary.providers:
                routes = ", ".join(f"{n:,} via {pid}" for pid, n in summary.providers.items())
                self.out.log(f"route: rows to send: {routes}")
            run.check(summary, max_cost)
            if summary.first_warning is not None:
                self.out.warn(warned_text(summary))
            code = self._refuse(summary, yes=yes)
            if code is not None:
                state = "done" if summary.to_send == 0 and not summary.unsettled else "refused"
                return code
            tally, code = self._send(run, summary, owner, concurrency, rate, report)
            counts = dict(tally.counts)
            state = "done" if tally.done else "stopped"
            return code
        finally:
            run.finish(owner, state, counts)
            if state in ("done", "refused") and self.kept is not None:
                self.kept.unlink(missing_ok=True)

    def _refuse(self, summary: Summary, *, yes: bool) -> int | None:
        """The exit code when this run sends nothing: nothing left, or not confirmed. Without
        --yes a person must say yes at a terminal; --json does not stand for a yes."""
        out = self.out
        ask = not yes and summary.to_send > 0
        if ask and not out.can_ask():
            error: KmsgError = NotConfirmed(
                f"{messages(summary.to_send)} to send ({types_text(summary)}; "
                f"{cost_text(summary)}) and no terminal to confirm on: nothing sent",
                hint="pass --yes to send them",
            )
            out.fail(error, self._preview_doc(summary))
            return error.exit_code
        if not out.json_mode and not out.quiet:
            show_summary(out.err_console(), self.job_id, summary, self.spec.at)
        if summary.to_send == 0:
            return self._nothing_to_send(summary)
        verb = f"Schedule for {kst(self.spec.at)}" if self.spec.at else "Send"
        if ask and not out.confirm(f"{verb} {messages(summary.to_send)} ({cost_text(summary)})?"):
            error = Cancelled("cancelled; nothing sent")
            out.fail(error, self._preview_doc(summary))
            return error.exit_code
        return None

    def _preview_doc(self, summary: Summary) -> dict[str, object]:
        return {
            "job": self.job_id,
            "rows": summary.rows,
            "to_send": summary.to_send,
            "types": dict(summary.types),
            "cost": None if summary.unpriced else summary.cost,
            "unpriced": sorted(summary.unpriced),
        }

    def _send(
        self,
        run: CampaignRun,
        summary: Summary,
        owner: str,
        concurrency: int,
        rate: float | None,
        report: Path | None,
    ) -> tuple[Tally, int]:
        out, clock = self.out, self.app_ctx.clock
        tally = Tally(Report(report, out.phone))
        stopped = False
        try:
            with (
                stop_on_signals(self._stopping) as stop,
                out.progress(summary.rows, clock.now_ms) as advance,
            ):

                def emit(results: list[campaign.RowResult]) -> None:
                    tally.add(results, out)
                    advance(len(results), tally.line())

                stopped = run.send(
                    owner,
                    emit,
                    lambda: stop() or tally.fatal is not None,
                    concurrency=concurrency,
                    rate=rate,
                )
        finally:
            tally.report.close()
        tally.done = not stopped and tally.rows >= summary.rows and not tally.counts["unknown"]
        code = campaign_run.exit_code(
            tally.counts, fatal=tally.fatal, stopped=stopped, interrupted=stop.interrupted
        )
        self._show_result(tally, stopped, code, report)
        return tally, code

    def _stopping(self, signum: int) -> None:
        again = " (Ctrl-C again to stop now)" if signum == signal.SIGINT else ""
        self.out.signal_notice(f"stopping after the batches in flight{again}")

    def _settled(self, settled: Settled) -> None:
        found, lost, unknown = settled.found, settled.lost, settled.unknown
        if found or lost:
            self.out.info(
                f"kmsg: an earlier run left {found + lost:,} rows unanswered: "
                f"{found:,} reached the provider, {lost:,} did not and are sent now"
            )
        if unknown:
            self.out.warn(
                f"{unknown:,} rows of an earlier run may or may not have been sent; they are not "
                "sent again until settled (rerun in a minute, or `kmsg track` reconciles them)"
            )

    def _nothing_to_send(self, summary: Summary) -> int:
        code = campaign_run.nothing_to_send(summary)
        doc = {
            "job": self.job_id,
            "rows": summary.rows,
            "sent_before": summary.sent_before,
            "queued_before": summary.queued_before,
            "unsettled": summary.unsettled,
            "invalid": summary.invalid,
        }
        if summary.unsettled:
            error: KmsgError = TemporaryError(
                f"nothing sent: {summary.unsettled:,} rows of job {self.job_id} may or may not "
                "have reached the provider and are not settled yet",
                hint="rerun in a minute (it asks the provider first), or `kmsg track --once`",
            )
            self.out.fail(error, doc)
            return code
        done = "sent or queued" if summary.queued_before else "sent"
        message = f"nothing to send: every valid row of job {self.job_id} was {done} before"
        if not summary.rows:  # a header alone: an export that found nobody today
            message = f"nothing to send: job {self.job_id} has a header and no rows"
        elif not summary.valid:
            message = (
                f"nothing to send: all {summary.invalid:,} rows of job {self.job_id} are invalid"
            )
        if not self.out.json_mode:
            for row, to, why in summary.problems:
                self.out.error(f"row {row} ({self.out.phone(to)}): invalid: {why}")
        if summary.invalid and self.out.json_mode:
            error = Failed(
                f"{message}; {summary.invalid:,} rows are invalid",
                exit_code=code,
                code="invalid_rows",
            )
            self.out.fail(error, doc)
            return code
        self.out.emit(doc, lambda console: console.print(message), ids=[self.job_id])
        return code

    def _show_result(self, tally: Tally, stopped: bool, code: int, report: Path | None) -> None:
        doc = {
            "job": self.job_id,
            "rows": tally.rows,
            "counts": {state: tally.counts[state] for state in campaign.STATES},
            "stopped": stopped,
            "report": str(report) if report else None,
            "scheduled_at": self.spec.at,  # --at: when the held rows go (ads: 08:00 KST at night)
        }
        out = self.out
        if out.json_mode and code:
            message = f"job {self.job_id}: {tally.line()}"
            kind = None  # the fatal error's exit code says what stopped the campaign
            if stopped:
                message = f"stopped; state saved: rerun the same command or --resume {self.job_id}"
                kind = "interrupted_campaign"
            elif not tally.fatal:
                kind = "unsettled" if tally.counts["unknown"] else "some_failed"
            out.fail(Failed(message, exit_code=code, code=kind), doc)
            return

        def human(console: Console) -> None:
            console.print(f"job {self.job_id}: {tally.rows:,} rows, {tally.line()}")

        out.emit(doc, human, ids=[self.job_id])
        if tally.counts["queued"]:
            out.info(
                f"kmsg: {tally.counts['queued']:,} rows wait in the local queue: "
                "`kmsg queue run` (from cron) or `kmsg queue work` sends them when due"
            )
        if stopped:
            out.error(
                f"stopped; state saved: rerun the same command or `kmsg send-bulk --resume {self.job_id}`"
            )
