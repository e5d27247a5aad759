"""Fault injection with real processes: three `selfheal up` replicas on PostgreSQL + their own
nats-server, the official Python SDK on each, and the faults issue 11 names.

Each scenario opens Dynatrace problems (the seed's problemopen.json, one service and one
kill-switch flag per problem), injects its fault, resolves every problem, and asserts through
`verify`: every problem remediated, no duplicate action (ledger rows and flag change events),
no stuck sequence, every live replica's SDK sees every flag. What it measured goes to
faults.json in the test's tmp dir (or SELFHEAL_FAULTS_REPORT; `bench/faults.py` prints it).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import ClusterFactory
from tests.faults.harness import (
    Cluster,
    Nats,
    Replica,
    flag_of,
    own_postgres,
    recording,
    verify,
    wait_until,
)
from tests.support.server import free_port

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(300),  # replicas start in ~20 s each on a busy 2-core machine
]

NATS_DOWN = float(os.environ.get("SELFHEAL_FAULTS_NATS_DOWN", "60"))


def services(cluster: Cluster, n: int) -> list[str]:
    cluster.setup(n)
    return list(cluster.services)


def all_on(cluster: Cluster, names: list[str]) -> bool:
    return all(cluster.flag_on(s) for s in names)


@pytest.mark.timeout(480)
def test_replica_killed_mid_sequence(
    tmp_path: Path, pg_url: str, make_cluster: ClusterFactory
) -> None:
    cluster = make_cluster(pg_url)
    names = services(cluster, 9)
    with recording(
        tmp_path, "replica kill -9 mid-sequence (3×, one left down)", cluster
    ) as outcome:
        for round_, victim in enumerate(cluster.replicas):
            batch = names[round_ * 3 : round_ * 3 + 3]
            for s in batch:
                cluster.open(s, victim)  # the victim takes the intake
            victim.kill()
            killed = time.monotonic()
            if round_ < 2:
                victim.spawn()
                victim.wait_ready()
                victim.start_sdk()
        outcome.recovery_seconds = round(
            time.monotonic()
            - killed
            + wait_until("every flag on", lambda: all_on(cluster, names), 60),
            2,
        )
        verify(cluster, outcome, names)


def test_open_sent_twice_to_different_replicas(
    tmp_path: Path, pg_url: str, make_cluster: ClusterFactory
) -> None:
    cluster = make_cluster(pg_url)
    names = services(cluster, 6)
    with recording(
        tmp_path, "OPEN sent twice (same id, new id), before and after RESOLVED", cluster
    ) as outcome:
        a, b, c = cluster.replicas
        bodies = {}
        for s in names:
            body = cluster.open(s, a)
            bodies[s] = body
            assert cluster.send(body, b) == 200  # the same event again (a redelivery)
            again = cluster.notification(s)  # Dynatrace re-sends with a new id
            assert cluster.send(again, c) == 200
        wait_until("every flag on", lambda: all_on(cluster, names), 60)
        for s in names:
            cluster.resolve(s)
        wait_until(
            "every sequence finished",
            lambda: all(q["state"] == "finished" for q in cluster.sequences()),
            60,
            step=0.5,
        )
        for s in names:  # the same OPEN delivered again after its RESOLVED
            assert cluster.send(bodies[s], b) == 200
            assert cluster.send(bodies[s], c) == 200
        time.sleep(5)
        verify(cluster, outcome, names)


@pytest.mark.nats
@pytest.mark.timeout(int(NATS_DOWN) + 300)
def test_nats_down_while_problems_open_and_flags_flip(
    tmp_path: Path, pg_url: str, nats: Nats, make_cluster: ClusterFactory
) -> None:
    """Problems open and a kill switch is flipped while NATS is down for `NATS_DOWN` s.

    Asserted: the flip answers during the outage and reaches every replica's SDK (database
    path), every problem is remediated once, nothing is stuck. Measured (not asserted): how
    long the flip took to reach every SDK, and after NATS returned, how long until every
    replica serves the current flags and until every queued problem was remediated."""
    cluster = make_cluster(pg_url)
    names = services(cluster, 6)
    manual = "Manual-kill-switch"
    r = cluster.http.post(
        cluster.replicas[0].url + "/api/admin/projects/default/features",
        json={"name": manual, "type": "kill-switch"},
    )
    assert r.status_code == 201, r.text
    with recording(
        tmp_path, f"NATS down {NATS_DOWN:.0f} s while problems open and flags flip", cluster
    ) as outcome:
        for s in names[:2]:
            cluster.open(s)
        nats.kill()
        down = time.monotonic()
        for s in names[2:]:
            cluster.open(s)
        # the kill switch works without the bus: the flip commits and answers ...
        flip = cluster.http.post(
            cluster.replicas[0].url
            + f"/api/admin/projects/default/features/{manual}/environments/production/on"
        )
        assert flip.status_code == 200, flip.text
        # ... and reaches every replica's SDK through the database while NATS is still down
        took = wait_until(
            "the manual flip on every SDK during the outage",
            lambda: all(bool(r.sdk.is_enabled(manual)) for r in cluster.alive),
            max(5.0, NATS_DOWN - (time.monotonic() - down) - 1),
        )
        assert nats.process is None, "NATS came back before the flip converged"
        outcome.figures["flip to every SDK, NATS down (s)"] = round(took, 2)
        time.sleep(max(0.0, NATS_DOWN - (time.monotonic() - down)))
        nats.start()
        back = time.monotonic()

        def current(replica: Replica) -> bool:
            return bool(replica.sdk.is_enabled(manual)) and all(
                cluster.flag_on(s, replica) and cluster.sdk_sees(replica, s) for s in names
            )

        remediated = wait_until(
            "every problem remediated after NATS returned", lambda: all_on(cluster, names), 60
        )
        outcome.recovery_seconds = round(remediated, 2)
        outcome.figures["queued problems remediated after NATS returned (s)"] = round(remediated, 2)
        wait_until(
            "every replica serves the current flags",
            lambda: all(current(r) for r in cluster.alive),
            60,
        )
        outcome.figures["every replica current after NATS returned (s)"] = round(
            time.monotonic() - back, 2
        )
        verify(cluster, outcome, names)


def test_postgres_restarted_while_sequences_run(
    tmp_path: Path, make_cluster: ClusterFactory
) -> None:
    with own_postgres() as pg:
        cluster = make_cluster(pg.url)
        names = services(cluster, 9)
        with (
            recording(tmp_path, "PostgreSQL restarted while sequences run", cluster) as outcome,
            cluster,
        ):
            for s in names[:6]:
                cluster.open(s)
            pg.restart()
            back = time.monotonic()
            for s in names[6:]:
                cluster.open(s)
            wait_until("every flag on", lambda: all_on(cluster, names), 60)
            outcome.recovery_seconds = round(time.monotonic() - back, 2)
            verify(cluster, outcome, names)
            for r in cluster.replicas:
                assert r.alive, f"{r.name} exited after the database restart: {r.tail()}"


def test_publish_fails_after_commit(
    tmp_path: Path, pg_url: str, make_cluster: ClusterFactory
) -> None:
    """Every Keptn and flag event's first publish fails right after its commit, inside the
    real replicas (the test seam `SELFHEAL_TEST_FAIL_FIRST_PUBLISH`, `selfheal.bus.seams`):
    only the outbox relay can bring each event to the bus, step after step."""
    cluster = make_cluster(pg_url, SELFHEAL_TEST_FAIL_FIRST_PUBLISH="sh.keptn.>,selfheal.flags.>")
    names = services(cluster, 6)
    with recording(
        tmp_path, "publish fails after commit (first publish of every event, test seam)", cluster
    ) as outcome:
        start = time.monotonic()
        for s in names:
            cluster.open(s)
        took = wait_until("every flag on", lambda: all_on(cluster, names), 120)
        outcome.recovery_seconds = round(took, 2)
        outcome.figures["opened to remediated (s)"] = round(time.monotonic() - start, 2)
        verify(cluster, outcome, names)
        relayed = cluster.relayed()
        outcome.figures["events relayed"] = relayed
        assert relayed > 0, "no event reached the bus through the relay"
        wait_until("the outbox empty", lambda: cluster.outbox_pending() == 0, 30)


@pytest.mark.nats
def test_replicas_start_together_on_an_empty_database(
    tmp_path: Path, pg_url: str, make_cluster: ClusterFactory
) -> None:
    with recording(tmp_path, "three replicas start together on an empty database") as outcome:
        start = time.monotonic()
        cluster = make_cluster(pg_url, together=True)
        outcome.recovery_seconds = round(time.monotonic() - start, 2)
        names = services(cluster, 3)
        for s in names:
            cluster.open(s)
        verify(cluster, outcome, names)


class Endpoint:
    """A webhook receiver on 127.0.0.1: records bodies, or hangs every request (`hang`)."""

    def __init__(self, hang: bool) -> None:
        import http.server

        self.hang = hang
        self.received: list[bytes] = []
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.hang:
                    outer.release.wait(120)
                outer.received.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Endpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoints() -> Iterator[tuple[Endpoint, Endpoint]]:
    with Endpoint(hang=True) as hanging, Endpoint(hang=False) as answering:
        yield hanging, answering


def test_webhook_endpoint_hangs_while_another_answers(
    tmp_path: Path,
    pg_url: str,
    make_cluster: ClusterFactory,
    endpoints: tuple[Endpoint, Endpoint],
) -> None:
    hanging, answering = endpoints
    config = tmp_path / "integrations.yaml"
    hook = '{"type": "{{.type}}", "service": "{{.data.service}}"}'
    config.write_text(
        "integrations:\n"
        + "".join(
            f"  - name: {name}\n    type: webhook\n    config:\n      url: {url}\n"
            f"      events: [\"sh.keptn.event.action.triggered\"]\n      body: '{hook}'\n"
            for name, url in (("hangs", hanging.url), ("answers", answering.url))
        )
    )
    cluster = make_cluster(
        pg_url,
        SELFHEAL_INTEGRATIONS__FILE=str(config),
        SELFHEAL_INTEGRATIONS__WEBHOOK_ALLOW='["127.0.0.1/32"]',
    )
    names = services(cluster, 6)
    with recording(tmp_path, "a webhook endpoint hangs while another answers", cluster) as outcome:
        for s in names:
            cluster.open(s)

        def answered() -> bool:
            got = b"".join(answering.received).decode(errors="replace")
            return all(f'"{s}"' in got for s in names)

        try:
            took = wait_until("every action.triggered at the answering endpoint", answered, 30)
            outcome.recovery_seconds = round(took, 2)
        except AssertionError as e:
            outcome.notes.append(str(e))
        assert not outcome.notes, outcome.notes
        verify(cluster, outcome, names)


__all__ = ["flag_of"]
