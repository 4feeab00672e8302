"""`kmsg send-bulk FILE|-`: a CSV campaign as a durable, resumable job that never sends a row twice.

First the job is taken (one live run per job) and rows an earlier run left unanswered are settled
with the provider; then two passes over the file: the preview (validate every row, count what is
left to send, price it; nothing sent), --max-cost and the confirmation, and the send.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kmsg_cli.commands._bulk_io import CsvSource, Report, open_source, owner_alive, this_process
from kmsg_cli.commands._bulk_view import DryRunWriter, Tally, show_summary
from kmsg_cli.commands._common import app_context, command, stop_on_signals
from kmsg_cli.core import bulk, campaign, korea, ledger, service
from kmsg_cli.core.bulk import Spec, Summary
from kmsg_cli.errors import ExitCode, InputFileError, KmsgError, TemporaryError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.context import AppContext
    from kmsg_cli.core.ports import Env
    from kmsg_cli.core.service import Planned
    from kmsg_cli.output import Output


def register(app: typer.Typer) -> None:
    command(app, "send-bulk")(send_bulk)


def send_bulk(
    ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Argument(
            help="CSV file (UTF-8, or --encoding cp949); - reads stdin.", show_default=False
        ),
    ] = None,
    text: Annotated[
        str | None, typer.Option("--text", help="Text with {column} placeholders.")
    ] = None,
    template_id: Annotated[
        str | None, typer.Option("--template-id", help="AlimTalk template; columns are variables.")
    ] = None,
    type_: Annotated[
        str | None, typer.Option("--type", help="SMS|LMS|MMS|ALIMTALK (a 'type' column wins).")
    ] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="LMS title.")] = None,
    sender: Annotated[str | None, typer.Option("--from", help="Sender number.")] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="Send through this provider id.")
    ] = None,
    to_column: Annotated[
        str | None,
        typer.Option("--to-column", help="Recipient column (default: to, phone, 수신번호, ...)."),
    ] = None,
    encoding: Annotated[
        str, typer.Option("--encoding", help="File encoding: utf-8 (BOM or not) or cp949.")
    ] = "utf-8-sig",
    job: Annotated[
        str | None, typer.Option("--job", help="Job name (default: from the file and options).")
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option("--resume", help="Continue job JOB with its saved file and options."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Render and check every row; send nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", help="Refuse to start above this estimate (KRW).")
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=32, help="Provider calls in flight.")
    ] = 4,
    rate: Annotated[
        float | None, typer.Option("--rate", min=0.01, help="At most this many messages a second.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a per-row CSV report here.")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse characters EUC-KR cannot carry.")
    ] = False,
    ad: Annotated[
        bool, typer.Option("--ad", help="Advertising: (광고), a 080 opt-out; not 21:00-08:00 KST.")
    ] = False,
) -> int:
    """Send a CSV campaign: preview, confirm, send through batch endpoints, resume safely.

    Example: kmsg send-bulk customers.csv --text "{name}님, 주문하신 상품이 출발했습니다" --report out.csv
    """
    app_ctx = app_context(ctx)
    if resume is not None:
        if file is not None or job is not None:
            raise UsageError("--resume JOB takes the file and options saved with the job")
        source, spec, job_id = _saved_job(app_ctx, resume)
    else:
        if file is None:
            raise UsageError(
                "missing FILE (or --resume JOB)", hint='kmsg send-bulk customers.csv --text "..."'
            )
        spec = Spec(
            text, type_, subject, template_id, sender, provider, to_column, encoding, strict, ad
        )
        source = "-" if file == "-" else str(Path(file).expanduser().resolve())
        job_id = job or ""
    run = Run(app_ctx, spec, job_id, source)
    with run.input(dry_run) as csv_source:
        run.csv = csv_source
        # a piped campaign is named by its content, so two different pipes never share a job
        run.job_id = run.job_id or bulk.job_id(source, spec, csv_source.digest)
        if dry_run:
            return run.dry_run()
        return run.send(
            yes=yes, max_cost=max_cost, concurrency=concurrency, rate=rate, report=report
        )


def _saved_job(app_ctx: AppContext, job_id: str) -> tuple[str, Spec, str]:
    saved = app_ctx.store(existing=True).campaign(job_id)  # --resume needs the job's database
    if saved is None:
        raise InputFileError(f"no campaign {job_id!r} in {app_ctx.db_path}")
    return saved.source, Spec(**saved.spec), job_id


@dataclass
class Run:
    app_ctx: AppContext
    spec: Spec
    job_id: str
    source: str
    csv: CsvSource | None = None
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def out(self) -> Output:
        return self.app_ctx.output

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

    def items(self, env: Env, *, preview: bool) -> Iterator[campaign.Item]:
        """(row, recipient as written, plan or the reason it is invalid), one row at a time."""
        assert self.csv is not None
        header, rows = self.csv.read()
        cols = bulk.columns(header, self.spec)
        for number, values in rows:
            to = values[cols.header.index(cols.to)] if len(values) == len(header) else ""
            try:
                to, draft = bulk.draft(values, cols, self.spec)
                planned = service.plan_one(draft, to, env, preview=preview)
                if planned.message.ad:
                    korea.check_ad(planned.message)
                yield number, to, campaign.prepare(planned, self.job_id, number, self.run_id)
            except KmsgError as exc:
                if exc.exit_code != 65:  # a config problem (no route): not the row's fault
                    raise
                yield number, to, exc

    # -- preview ----------------------------------------------------------------------------
    def preview(self) -> Summary:
        """Check every row and count what would be sent; rows this job already sent are counted
        apart (a rerun skips them). Nothing is written."""
        env = self.app_ctx.env()
        summary, batch = Summary(), []
        for _row, _to, plan in self.items(env, preview=True):
            summary.rows += 1
            if isinstance(plan, KmsgError):
                summary.invalid += 1
                continue
            summary.valid += 1
            batch.append(plan)
            if len(batch) >= 500:
                self._count(summary, batch, env.prices)
                batch = []
        self._count(summary, batch, env.prices)
        return summary

    def _count(self, summary: Summary, batch: list[Planned], prices: Mapping[str, float]) -> None:
        """What the ledger says of each row: sent before, unsettled (not sent again), or to send."""
        store = self.app_ctx.store()
        latest = store.latest_attempts(p.message.idempotency_key or "" for p in batch)
        for p in batch:
            earlier = latest.get((p.message.idempotency_key or "", p.message.to))
            verdict = ledger.decide(p.message, earlier).verdict
            if verdict is ledger.Verdict.ACCEPTED:
                summary.sent_before += 1
            elif verdict is ledger.Verdict.SETTLE:
                summary.unsettled += 1
            else:
                summary.add(p.message, p.route[0], p.bytes, prices)

    def dry_run(self) -> int:
        env = self.app_ctx.env()
        out = self.out
        summary = Summary()
        writer = DryRunWriter(out, self.job_id)
        try:
            for row, to, plan in self.items(env, preview=True):
                summary.rows += 1
                if isinstance(plan, KmsgError):
                    summary.invalid += 1
                    writer.invalid(row, to, plan)
                    continue
                summary.valid += 1
                summary.add(plan.message, plan.route[0], plan.bytes, env.prices)
                writer.valid(row, plan)
        except KmsgError as exc:
            writer.close(summary, exc)
            raise typer.Exit(exc.exit_code) from None
        code = 65 if summary.invalid else 0
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
        """Take the job, settle what an earlier run left unanswered, preview, confirm, send.
        The job is given back in every case; a kept copy of stdin goes when the job is done or
        refused before sending (the same pipe again makes it anew)."""
        owner, clock = this_process(), self.app_ctx.clock
        assert self.csv is not None
        bulk.columns(
            self.csv.header(), self.spec
        )  # a bad header or --text is refused before the job is taken
        self.source = str(self.kept or self.source)
        self._claim(owner)
        if self.kept is not None:
            self.csv.keep(self.kept)
        state, counts = "stopped", {}
        try:
            self._reconcile()
            summary = self.preview()
            code = self._refuse(summary, yes=yes, max_cost=max_cost)
            if code is not None:
                state = "done" if summary.to_send == 0 and not summary.unsettled else "refused"
                return code
            tally, code = self._send(summary, owner, concurrency, rate, report)
            counts = dict(tally.counts)
            state = "done" if tally.done else "stopped"
            return code
        finally:
            self.app_ctx.store().finish_campaign(self.job_id, owner, state, counts, clock.now_ms())
            if state in ("done", "refused") and self.kept is not None:
                self.kept.unlink(missing_ok=True)

    def _refuse(self, summary: Summary, *, yes: bool, max_cost: float | None) -> int | None:
        """The exit code when this run sends nothing (night ban, cost, nothing left, declined)."""
        out, clock = self.out, self.app_ctx.clock
        if summary.ads:
            try:
                korea.ad_send_time(clock.now_ms(), None, defer=False)  # refuses at night (75)
            except TemporaryError as exc:
                exc.hint = "rerun from 08:00 KST: the same command sends what is left"
                raise
        summary.check_cost(max_cost)
        if not out.json_mode and not out.quiet:
            show_summary(out.err_console(), self.job_id, summary)
        if summary.to_send == 0:
            return self._nothing_to_send(summary)
        if not yes and not out.confirm(f"Send {summary.to_send:,} messages?"):
            out.error("cancelled; nothing sent")
            return 1
        return None

    def _send(
        self,
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
            env = campaign.locked(self.app_ctx.env())
            with stop_on_signals() as stop, out.progress(summary.rows, clock.now_ms) as advance:

                def emit(results: list[campaign.RowResult]) -> None:
                    tally.add(results, out)
                    advance(len(results), tally.line())
                    if tally.due_heartbeat(clock.now_ms()):
                        env.store().heartbeat_campaign(self.job_id, owner, clock.now_ms())  # type: ignore[attr-defined]

                stopped = campaign.send_rows(
                    self.items(env, preview=False),
                    env,
                    emit=emit,
                    stop=lambda: stop() or tally.fatal is not None,
                    concurrency=concurrency,
                    rate=rate,
                )
        finally:
            tally.report.close()
        tally.done = not stopped and tally.rows >= summary.rows and not tally.counts["unknown"]
        return tally, self._finish(tally, stopped, stop.interrupted, report)

    def _claim(self, owner: str) -> None:
        store, now = self.app_ctx.store(), self.app_ctx.clock.now_ms()
        spec = asdict(self.spec)
        holder = store.claim_campaign(self.job_id, self.source, spec, owner, now, owner_alive(now))
        if holder is not None:
            raise TemporaryError(
                f"job {self.job_id} is being sent by {holder.owner}; nothing sent",
                hint="wait for it to finish (rerunning then sends only what is left)",
            )

    def _reconcile(self) -> None:
        settled = campaign.reconcile(self.job_id, self.app_ctx.env())
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
        doc = {
            "job": self.job_id,
            "rows": summary.rows,
            "sent_before": summary.sent_before,
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
            return int(ExitCode.TEMPFAIL)
        message = f"nothing to send: every valid row of job {self.job_id} was sent before"
        if summary.invalid and self.out.json_mode:
            self.out.fail(KmsgError(f"{message}; {summary.invalid:,} rows are invalid"), doc)
            return 1
        self.out.emit(doc, lambda console: console.print(message))
        return 1 if summary.invalid else 0

    def _finish(self, tally: Tally, stopped: bool, interrupted: bool, report: Path | None) -> int:
        counts = tally.counts
        if tally.fatal:
            code = tally.fatal
        elif stopped:
            code = 130 if interrupted else 75
        elif counts["unknown"]:
            code = 75
        elif counts["failed"] or counts["invalid"] or counts["suppressed"]:
            code = 1
        else:
            code = 0
        doc = {
            "job": self.job_id,
            "rows": tally.rows,
            "counts": {state: counts[state] for state in campaign.STATES},
            "stopped": stopped,
            "report": str(report) if report else None,
        }
        out = self.out
        if out.json_mode and code:
            message = f"job {self.job_id}: {tally.line()}"
            if stopped:
                message = f"stopped; state saved: rerun the same command or --resume {self.job_id}"
            out.fail(KmsgError(message), doc, exit_code=code)
            return code

        def human(console: Console) -> None:
            console.print(f"job {self.job_id}: {tally.rows:,} rows, {tally.line()}")

        out.emit(doc, human)
        if stopped:
            out.error(
                f"stopped; state saved: rerun the same command or `kmsg send-bulk --resume {self.job_id}`"
            )
        return code
