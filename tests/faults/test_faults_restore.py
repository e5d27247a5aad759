"""The restore with real processes (tests/faults/restore_rig.py): a person's flip is never
undone within the hold, is noticed on another replica while NATS is down, and a replica
killed mid-restore leaves no rollout unattended.

Each test prints what it measured; the takeover time goes to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import Cluster, Nats, Replica
from tests.faults.restore_rig import (
    AUTOMATION,
    SETTINGS,
    RestoreRig,
    fallback_of,
    person_changes,
)

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(300),
]
HOLD = float(SETTINGS["SELFHEAL_CONTROL__RESTORE_HOLD_SECONDS"])


def cluster_of(root: Path, pg_url: str, nats: Nats, replicas: int, **env: str) -> Cluster:
    """Replicas named r0, r1 … (their control replica ids too, so a restore's owner names one)."""
    cluster = Cluster(root, pg_url, nats.url, replicas)
    for r in cluster.replicas:
        r.env.update(SETTINGS)
        r.env["SELFHEAL_CONTROL__REPLICA_ID"] = r.name
        r.env.update(env)
    return cluster


def rig_for(
    tmp_path: Path, pg_url: str, nats: Nats, replicas: int, *, hold: float, proxy: bool = False
) -> Iterator[RestoreRig]:
    cluster = cluster_of(tmp_path / "cluster", pg_url, nats, replicas)
    rig = RestoreRig(cluster, tmp_path, hold=hold, proxy=proxy)
    try:
        cluster.start(together=True)
        rig.start()
        yield rig
    finally:
        rig.stop()
        cluster.stop()
        for r in cluster.replicas:
            print(f"---- {r.name} log tail ----\n{r.tail(2000)}")
        for child in ("website", "cdn"):
            log = tmp_path / "site" / f"{child}.log"
            if log.exists():
                print(f"---- {child} log tail ----\n{log.read_text(errors='replace')[-1500:]}")


def watch_hold(
    rig: RestoreRig,
    restore_id: str,
    flipped_at: float,
    want: int,
    by: str,
    driver: Replica | None = None,
) -> dict[str, Any]:
    """Sample the flag and the restore every 0.25 s for the whole hold: the flag stays where
    the person put it, the restore stays held, and the person made the only change."""
    samples = 0
    deadline = flipped_at + HOLD - 1.0
    while time.time() < deadline:
        assert rig.flag() == want, (
            f"the person's flip was undone {time.time() - flipped_at:.1f} s in"
        )
        state = next(r for r in rig.restores(driver) if r["id"] == restore_id)
        if time.time() > flipped_at + 3:  # the flip is seen at the next tick at the latest
            assert state["state"] == "held", state
        samples += 1
        time.sleep(0.25)
    events = rig.flag_events()
    flips = person_changes(events, flipped_at - 1.0)
    assert len(flips) == 1 and str(flips[0]["createdBy"]).startswith(by), events
    after = [e for e in events if e["id"] > flips[0]["id"]]
    assert after == [], f"changed after the person's flip, within the hold: {after}"
    return {"samples": samples, "flip": flips[0]}


@pytest.fixture
def one(tmp_path: Path, pg_url: str, nats: Nats) -> Iterator[RestoreRig]:
    yield from rig_for(tmp_path, pg_url, nats, 1, hold=4)


def test_restore_person_flip_is_never_undone_within_the_hold(one: RestoreRig) -> None:
    """Two flips by a person, each when automation wants the flag elsewhere: (1) the origin
    is healthy and the restore steps — the person switches the kill switch off; (2) the
    problem came back and the fault stays — the person switches the fallback off although
    users now fail. Neither is touched for the hold; then automation resumes as
    docs/restore.md says: (1) resolved as "switched off by admin", (2) the fallback back on."""
    rig = one
    restore = rig.until_stepping()
    flipped = rig.switch(False)
    seen = watch_hold(rig, restore["id"], flipped, 0, "admin:")
    problem = rig.problem()
    assert problem is not None
    notes = rig.comments(problem["problemId"])
    held = [n for n in notes if "switched EnableStaticContent off at" in n and "on hold until" in n]
    assert len(held) == 1, notes
    rig.wait(
        "the restore finished after the hold", lambda: rig.restore()["state"] == "restored", 30
    )
    assert rig.flag() == 0
    problem = rig.problem()
    assert problem is not None and problem["status"] == "CLOSED"
    assert any("switched off by admin:" in n for n in rig.comments(problem["problemId"]))
    finished = [
        e for e in rig.events(restore["id"]) if e["type"] == "sh.keptn.event.restore.finished"
    ]
    assert len(finished) == 1 and finished[0]["data"]["outcome"] == "restored"
    print(f"hold 1 (origin healthy): {seen['samples']} samples, flag off throughout")

    # (2) the fault again: the problem reopens, a new remediation, a new restore; the origin
    # keeps failing, so the restore only probes; a person takes the fallback away anyway
    rig.fault(True)
    rig.wait(
        "a second restore armed",
        lambda: len(rig.restores()) == 2 and rig.restore()["id"] != restore["id"],
        60,
    )
    second = rig.restore()
    rig.wait("the kill switch on again", lambda: rig.flag() == 100, 30)
    rig.wait("mitigated again", lambda: bool((rig.problem() or {}).get("mitigated")), 60)
    flipped = rig.switch(False)
    seen = watch_hold(rig, second["id"], flipped, 0, "admin:")
    rig.wait("failing again while the fallback is off", lambda: rig.users.errors > 0, 10)
    rig.wait("the fallback back on after the hold", lambda: rig.flag() == 100, 15)
    back = next(r for r in rig.restores() if r["id"] == second["id"])
    assert back["state"] in ("armed", "verifying"), back
    problem = rig.problem()
    assert problem is not None
    notes = rig.comments(problem["problemId"])
    assert any("the service fails without the fallback" in n for n in notes), notes
    print(f"hold 2 (origin failing): {seen['samples']} samples, flag off throughout")


def outbox_rows(rig: RestoreRig) -> list[Any]:
    import psycopg

    url = rig.cluster.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, connect_timeout=5) as conn:
        return list(conn.execute("SELECT * FROM event_outbox").fetchall())


def replica_named(rig: RestoreRig, name: str | None) -> Replica:
    found = [r for r in rig.cluster.replicas if r.name == name]
    assert found, f"no replica {name!r}"
    return found[0]


def types_of(rig: RestoreRig, context: str, replica: Replica | None = None) -> list[str]:
    del replica
    return [e["type"] for e in rig.events(context)]


@pytest.fixture
def two(tmp_path: Path, pg_url: str, nats: Nats) -> Iterator[RestoreRig]:
    yield from rig_for(tmp_path, pg_url, nats, 2, hold=6)


@pytest.mark.nats
def test_restore_person_flip_on_another_replica_while_nats_is_down(
    two: RestoreRig, nats: Nats
) -> None:
    """Replica A drives the restore; NATS dies; a person switches the kill switch off on
    replica B. A never hears of it from the bus, reads it from the flag's audit log before
    its next write, holds, and never overwrites the flip; once NATS is back, the bus's late
    copy of the same change holds nothing a second time."""
    rig = two
    restore = rig.until_stepping()
    driver = replica_named(rig, restore["owner"])
    other = next(r for r in rig.cluster.replicas if r is not driver)
    nats.kill()
    flipped = rig.switch(False, other)
    print(f"NATS down; {other.name} flipped the switch off while {driver.name} drives")
    watch_hold(rig, restore["id"], flipped, 0, "admin:", driver=driver)
    held = rig.restores(driver)[0]
    assert held["heldBy"].startswith("admin:"), held
    rig.wait(
        "the restore finished after the hold",
        lambda: rig.restore(driver)["state"] == "restored",
        30,
    )
    nats.start()
    try:
        rig.wait("the outbox relayed", lambda: rig.cluster.outbox_pending() == 0, 90)
    finally:
        print(f"outbox rows: {outbox_rows(rig)}")
    time.sleep(3)  # the late bus copy of the flip reaches both replicas' restore consumers
    types = types_of(rig, restore["id"])
    assert types.count("sh.selfheal.restore.held") == 1, types
    assert types.count("sh.keptn.event.restore.finished") == 1, types
    assert rig.flag() == 0
    problem = rig.problem()
    assert problem is not None and problem["status"] == "CLOSED"


@pytest.fixture
def two_behind_a_proxy(tmp_path: Path, pg_url: str, nats: Nats) -> Iterator[RestoreRig]:
    """Two replicas; the website's SDK reaches whichever is alive (one will be killed)."""
    yield from rig_for(tmp_path, pg_url, nats, 2, hold=6, proxy=True)


def test_restore_replica_killed_mid_step(two_behind_a_proxy: RestoreRig) -> None:
    """kill -9 of the replica driving a restore while 50 % of users are on the fallback: the
    other replica takes the restore over once the lease ran out, resumes the step (or falls
    back to 100 %), and finishes: flag off, problem resolved, one restore.finished, and every
    change of the kill switch made by the automation, its fallback share never rising."""
    rig = two_behind_a_proxy
    restore = rig.until_stepping()
    rig.wait("the restore at 50 %", lambda: rig.restore()["fallbackPercent"] == 50, 30)
    victim = replica_named(rig, rig.restore()["owner"])
    survivor = next(r for r in rig.cluster.replicas if r is not victim)
    victim.kill()
    killed = time.monotonic()
    unattended = []

    def taken_over() -> bool:
        now = rig.restore(survivor)
        unattended.append(rig.flag(survivor))
        return bool(now["owner"] == survivor.name)

    rig.wait("the survivor took the restore over", taken_over, 30)
    takeover = time.monotonic() - killed
    print(f"takeover after kill -9 mid-step: {takeover:.2f} s (lease 4 s, poll 0.5 s)")
    assert set(unattended) <= {50, 100}, unattended  # the step held, or all on the fallback
    rig.wait(
        "the restore finished on the survivor",
        lambda: rig.restore(survivor)["state"] == "restored",
        60,
    )
    assert rig.flag(survivor) == 0
    problem = rig.problem()
    assert problem is not None and problem["status"] == "CLOSED"
    types = types_of(rig, restore["id"])
    assert types.count("sh.keptn.event.restore.finished") == 1, types
    events = rig.flag_events()
    on = next(i for i, e in enumerate(events) if str(e["createdBy"]).startswith("remediation:"))
    since = events[on:]
    assert all(str(e["createdBy"]).startswith(AUTOMATION) for e in since), since
    shares = [fallback_of(e["data"]) for e in since]
    assert shares[0] == 100 and shares[-1] == 0, shares
    known = [s for s in shares if s is not None]
    assert known == shares and known == sorted(known, reverse=True), shares
    restores = {str(e["createdBy"]) for e in since[1:]}
    assert restores == {f"restore:{restore['id']}"}, restores
    print(f"kill switch after the remediation: {shares} % on the fallback")
