"""Message ids and campaign ids as people type them: a unique prefix is enough (git style), for
every command that takes one; an ambiguous prefix is exit 65 naming the candidates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kmsg_cli.errors import InputError, InputFileError

if TYPE_CHECKING:
    from kmsg_cli.core.models import Record
    from kmsg_cli.output import Output
    from kmsg_cli.store import Store

AMBIGUOUS_SHOWN = 10


def job_filter(store: Store, name: str) -> str:
    """``--job``: a campaign or queue job that has messages, or a campaign by its unique id
    prefix; else exit 66 (65 when the prefix is ambiguous)."""
    if store.list_records(job=name, limit=1) or store.get_job(name) is not None:
        return name
    return campaign_id(store, name, noun="campaign or job")


def campaign_id(store: Store, prefix: str, *, noun: str = "campaign") -> str:
    """A send-bulk campaign by its id or a unique prefix of it (git style): exit 66 when none
    matches, 65 listing the candidates when several do."""
    if store.campaign(prefix) is not None:
        return prefix
    matches = store.find_campaigns(prefix, limit=AMBIGUOUS_SHOWN + 1)
    if len(matches) == 1:
        return matches[0].id
    if not matches:
        raise InputFileError(
            f"no {noun} {prefix!r}", hint="`kmsg send-bulk --list` lists the campaigns"
        )
    shown = [m.id for m in matches[:AMBIGUOUS_SHOWN]]
    more = " …" if len(matches) > AMBIGUOUS_SHOWN else ""
    raise InputError(
        f"campaign id {prefix!r} is ambiguous; candidates: {', '.join(shown)}{more}",
        hint="type more characters of the id",
    )


def short_ids(out: Output, store: Store, ids: list[str]) -> dict[str, str]:
    """What an id column shows: the shortest unique prefix in a table people read, the full id in
    tsv/csv (scripts keep whole ids)."""
    if out.table_format() != "table":
        return {mid: mid for mid in ids}
    return store.short_ids(ids)


def resolve(store: Store, prefix: str) -> Record:
    """An id or a unique prefix of one (git style). The exact id wins; a prefix matching only an
    original and its ``:api-fallback`` sibling means the original. Else exit 65 naming them."""
    record = store.get(prefix)
    if record is not None:
        return record
    base_prefix, sep, rest = prefix.partition(":")
    if sep and base_prefix:  # "0193abc:api-fallback", as tables show a fallback
        prefix = resolve(store, base_prefix).message_id + sep + rest
        record = store.get(prefix)
        if record is not None:
            return record
    matches = store.find_prefix(prefix, limit=AMBIGUOUS_SHOWN + 1)
    bases = {m.message_id.partition(":")[0] for m in matches}
    if len(bases) == 1 and len(matches) > 1:
        base = store.get(bases.pop())
        if base is not None:
            return base
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InputError(f"no message matches id {prefix!r}")
    shown = [m.message_id for m in matches[:AMBIGUOUS_SHOWN]]
    more = " …" if len(matches) > AMBIGUOUS_SHOWN else ""
    raise InputError(
        f"id {prefix!r} is ambiguous; candidates: {', '.join(shown)}{more}",
        hint="type more characters of the id",
    )
