"""`kmsg send-bulk FILE|-`: a CSV campaign as a durable, resumable job that never sends a row twice.

First the job is taken (one live run per job) and rows an earlier run left unanswered are settled
with the provider; then two passes over the file: the preview (validate every row, count what is
left to send, price it; nothing sent), --max-cost and the confirmation, and the send.
"""

from __future__ import annotations

import secrets
import signal
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from kmsg_cli.commands._common import app_context, command, stop_on_signals
from kmsg_cli.commands._complete import complete_provider_ids, complete_types
from kmsg_cli.commands.send import parse_vars
from kmsg_cli.commands.status import campaign_id
from kmsg_cli.core import bulk, campaign, campaign_run
from kmsg_cli.core.bulk import Spec, Summary
from kmsg_cli.core.campaign_run import CampaignRun
from kmsg_cli.core.settle import Settled
from kmsg_cli.core.times import kst, parse_when
from kmsg_cli.errors import (
    Cancelled,
    ExitCode,
    Failed,
    KmsgError,
    NotConfirmed,
    TemporaryError,
    UsageError,
)

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.context import AppContext
    from kmsg_cli.output import Output


def register(app: typer.Typer) -> None:
    command(app, "send-bulk", formats=True)(send_bulk)


def send_bulk(
    ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Argument(
            metavar="PATH",
            help="CSV file (UTF-8, or --encoding cp949); - reads stdin.",
            show_default=False,
        ),
    ] = None,
    text: Annotated[
        str | None,
        typer.Option(
            "--text",
            metavar="TEXT",
            help="Text with {column} placeholders.",
            rich_help_panel="Message",
        ),
    ] = None,
    template_id: Annotated[
        str | None,
        typer.Option(
            "--template-id",
            metavar="ID",
            help="AlimTalk template; columns are variables.",
            rich_help_panel="Message",
        ),
    ] = None,
    type_: Annotated[
        str | None,
        typer.Option(
            "--type",
            metavar="TYPE",
            help="SMS|LMS|MMS|ALIMTALK (a 'type' column wins).",
            autocompletion=complete_types,
            rich_help_panel="Message",
        ),
    ] = None,
    subject: Annotated[
        str | None,
        typer.Option("--subject", metavar="TEXT", help="LMS title.", rich_help_panel="Message"),
    ] = None,
    sender: Annotated[
        str | None,
        typer.Option("--from", metavar="NUMBER", help="Sender number.", rich_help_panel="Message"),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            metavar="ID",
            help="Send through this provider id.",
            autocompletion=complete_provider_ids,
            rich_help_panel="Message",
        ),
    ] = None,
    to_column: Annotated[
        str | None,
        typer.Option(
            "--to-column",
            metavar="COLUMN",
            help="Recipient column (default: to, phone, 수신번호, ...).",
        ),
    ] = None,
    encoding: Annotated[
        str,
        typer.Option(
            "--encoding", metavar="ENCODING", help="File encoding: utf-8 (BOM or not) or cp949."
        ),
    ] = "utf-8-sig",
    job: Annotated[
        str | None,
        typer.Option("--job", metavar="ID", help="Job name (default: from the file and options)."),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            metavar="ID",
            help="Continue a campaign (its id or a unique prefix) with its saved file and options.",
        ),
    ] = None,
    list_: Annotated[
        bool,
        typer.Option("--list", help="List the campaigns, newest first, with their counts."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Render and check every row; send nothing.")
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Send without asking; required without a terminal, even with --json.",
        ),
    ] = False,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost",
            metavar="KRW",
            help="Refuse to start above this estimate (KRW).",
            rich_help_panel="Scheduling and rules",
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            metavar="N",
            min=1,
            max=32,
            help="Provider calls in flight.",
            rich_help_panel="Scheduling and rules",
        ),
    ] = 4,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            metavar="N",
            min=0.01,
            help="At most this many messages a second.",
            rich_help_panel="Scheduling and rules",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", metavar="PATH", help="Write a per-row CSV report here."),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Refuse characters EUC-KR cannot carry.", rich_help_panel="Message"
        ),
    ] = False,
    ad: Annotated[
        bool,
        typer.Option(
            "--ad",
            help="Advertising: (광고), a 080 opt-out; not 21:00-08:00 KST.",
            rich_help_panel="Scheduling and rules",
        ),
    ] = False,
    var: Annotated[
        list[str],
        typer.Option(
            "--var",
            metavar="KEY=VALUE",
            help="{KEY} in every row (not a column's name); repeatable.",
            rich_help_panel="Message",
        ),
    ] = [],  # noqa: B006
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="WHEN",
            help="Hold the rows in the queue until then (as kmsg send --at).",
            rich_help_panel="Scheduling and rules",
        ),
    ] = None,
    defer: Annotated[
        bool,
        typer.Option(
            "--defer",
            help="Hold ad rows due 21:00-08:00 KST for 08:00, not refuse.",
            rich_help_panel="Scheduling and rules",
        ),
    ] = False,
    failover: Annotated[
        bool,
        typer.Option(
            "--failover/--no-failover",
            help="ALIMTALK: fall back to SMS/LMS if not delivered.",
            show_default=False,
            rich_help_panel="AlimTalk",
        ),
    ] = False,
    fallback_text: Annotated[
        str | None,
        typer.Option(
            "--fallback-text",
            metavar="TEXT",
            help="Text of the fallback SMS/LMS, with {column}s (implies --failover).",
            rich_help_panel="AlimTalk",
        ),
    ] = None,
    fallback_subject: Annotated[
        str | None,
        typer.Option(
            "--fallback-subject",
            metavar="TEXT",
            help="Title of the fallback LMS.",
            rich_help_panel="AlimTalk",
        ),
    ] = None,
    fallback_channel: Annotated[
        str | None,
        typer.Option(
            "--fallback-channel",
            metavar="[sms|lms]",
            help="sms|lms (default: by length).",
            rich_help_panel="AlimTalk",
        ),
    ] = None,
) -> int:
    """Send a CSV campaign: preview, confirm, send, resume.

    Rows go out through the providers' batch endpoints; a rerun or --resume never sends a row
    twice. On a terminal it asks before sending; only y or yes sends. Exit codes: 0 every row
    accepted (now or before), 1 some rows failed or were invalid, 2 no terminal to ask on and no
    --yes (nothing sent), 65 bad input, 75 some outcome unknown or stopped by SIGTERM, 130
    stopped by Ctrl-C, or not confirmed at the prompt (no, Enter, Ctrl-C, Ctrl-D: nothing sent).

    Examples:

    \b
      kmsg send-bulk customers.csv --text "{name}님, 주문하신 상품이 출발했습니다" --report out.csv
      kmsg send-bulk customers.csv --template-id TPL1 --dry-run
      kmsg send-bulk --list
      kmsg send-bulk --resume customers --yes
    """
    app_ctx = app_context(ctx)
    if list_:
        if file is not None or resume is not None:
            raise UsageError("--list takes no FILE and no --resume")
        return _list(app_ctx)
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
            text=text,
            type=type_,
            subject=subject,
            template_id=template_id,
            sender=sender,
            provider_id=provider,
            to_column=to_column,
            encoding=encoding,
            strict=strict,
            ad=ad,
            variables=parse_vars(var, None),
            # resolved once and saved with the job: --resume holds rows until the same time
            at=parse_when(at, app_ctx.clock.now_ms()) if at else None,
            defer=defer,
            failover=failover,
            fallback_text=fallback_text,
            fallback_subject=fallback_subject,
            fallback_channel=fallback_channel,
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


def _saved_job(app_ctx: AppContext, prefix: str) -> tuple[str, Spec, str]:
    store = app_ctx.store(existing=True)  # --resume needs the campaign's database
    saved = store.campaign(campaign_id(store, prefix))
    assert saved is not None  # campaign_id found it
    return saved.source, Spec(**saved.spec), saved.id


LISTED = 50


def _list(app_ctx: AppContext) -> int:
    """``--list``: the latest campaigns and where their messages stand."""
    from kmsg_cli.store.campaigns import CAMPAIGN_COUNTS

    out = app_ctx.output
    listed = app_ctx.store(existing=True).campaigns(LISTED)
    doc = {
        "campaigns": [
            {
                "id": c.id,
                "state": c.state,
                "counts": counts,
                "created_at": c.created_at,
                "updated_at": c.updated_at,
            }
            for c, counts in listed
        ]
    }

    def human(_console: Console) -> None:
        out.table(
            ("id", "state", *CAMPAIGN_COUNTS, "created"),
            [
                (c.id, c.state, *(str(counts[k]) for k in CAMPAIGN_COUNTS), out.time(c.created_at))
                for c, counts in listed
            ],
            empty="no campaigns yet: `kmsg send-bulk FILE` starts one",
        )

    out.emit(doc, human, data=True)
    return 0


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
        if not summary.valid:
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
