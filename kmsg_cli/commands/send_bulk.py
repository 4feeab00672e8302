"""`kmsg send-bulk FILE|-`: a CSV campaign as a durable, resumable job that never sends a row twice.

First the job is taken (one live run per job) and rows an earlier run left unanswered are settled
with the provider; then two passes over the file: the preview (validate every row, count what is
left to send, price it; nothing sent), --max-cost and the confirmation, and the send.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kmsg_cli.commands._bulk_run import Run
from kmsg_cli.commands._common import app_context, command
from kmsg_cli.commands._complete import complete_provider_ids, complete_types
from kmsg_cli.commands._ids import campaign_id
from kmsg_cli.commands.send import parse_vars
from kmsg_cli.core import bulk
from kmsg_cli.core.bulk import Spec
from kmsg_cli.core.times import parse_when
from kmsg_cli.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.context import AppContext


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
