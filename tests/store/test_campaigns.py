"""kmsg_campaigns: one live run per campaign; a dead run's job is taken over; finishing frees it
(on SQLite and on PostgreSQL)."""

from __future__ import annotations

from kmsg_cli.store import open_store


def test_claiming_a_job(backend: str) -> None:
    store = open_store(backend, 1_000)
    spec = {"text": "hi"}
    alive = {"a:1": True, "b:2": False}
    check = lambda owner, _beat: alive[owner]  # noqa: E731

    assert store.claim_campaign("j", "/f.csv", spec, "a:1", 1_000, check) is None
    held = store.claim_campaign("j", "/f.csv", spec, "c:3", 2_000, check)
    assert held is not None and held.owner == "a:1" and held.state == "running"

    alive["a:1"] = False  # the first run died (kill -9): its job is free for the next one
    assert store.claim_campaign("j", "/g.csv", spec, "b:2", 3_000, check) is None
    job = store.campaign("j")
    assert job is not None and (job.owner, job.source, job.heartbeat_at) == ("b:2", "/g.csv", 3_000)

    store.heartbeat_campaign("j", "b:2", 4_000)
    store.finish_campaign("j", "not-the-owner", "done", {"accepted": 1}, 5_000)
    assert store.campaign("j").state == "running"  # only the owner finishes its run
    store.finish_campaign("j", "b:2", "stopped", {"accepted": 1}, 5_000)
    job = store.campaign("j")
    assert (job.state, job.owner, job.counts, job.heartbeat_at) == (
        "stopped",
        None,
        {"accepted": 1},
        4_000,
    )
    store.close()
