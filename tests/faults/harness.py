"""Real processes for the fault-injection suite: nats-server, PostgreSQL, `selfheal up` replicas.

Everything here is a process this suite started itself, so it may kill -9, SIGSTOP or restart
it: its own nats-server on a store in a temp dir (restarted on the same port and store), its
own PostgreSQL cluster (initdb/pg_ctl, trust auth, for the database-restart case), and replicas
that can be killed and started again on the same port and environment. Every wait is bounded.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import port_open, unavailable
from tests.support.paths import SEED
from tests.support.server import ADMIN, CLIENT, FRONTEND, free_port

NATS_SERVER = "/usr/sbin/nats-server"
PG_BIN = Path("/usr/local/bin")
PROBLEM_TITLE = "Failure rate increase"
ACK_WAIT = 2.0
"""Seconds JetStream waits for an ack before redelivering (the replicas' `ack_wait`)."""


def wait_until(what: str, check: Callable[[], bool], timeout: float, step: float = 0.1) -> float:
    """Seconds until `check()` holds; AssertionError naming `what` after `timeout`."""
    start = time.monotonic()
    for _ in range(int(timeout / step) + 1):
        with suppress(Exception):
            if check():
                return time.monotonic() - start
        time.sleep(step)
    raise AssertionError(f"{what} did not happen within {timeout} s")


# --- nats-server -------------------------------------------------------------------------------
class Nats:
    """One nats-server with JetStream on a store in `store`, restartable on the same port."""

    def __init__(self, store: Path) -> None:
        if not os.access(NATS_SERVER, os.X_OK):
            unavailable(f"{NATS_SERVER} is not installed (make tools installs it)")
        self.store = store
        self.port = free_port()
        self.monitor = free_port()
        self.log = store / "nats.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    *(NATS_SERVER, "-js", "-sd", str(self.store), "-a", "127.0.0.1"),
                    *("-p", str(self.port), "-m", str(self.monitor)),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            "nats-server healthy",
            lambda: (
                httpx.get(f"http://127.0.0.1:{self.monitor}/healthz", timeout=1).status_code == 200
            ),
            30,
        )

    def kill(self) -> None:
        """kill -9 (the store stays)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
        self.kill()


# --- PostgreSQL --------------------------------------------------------------------------------
class OwnPostgres:
    """A PostgreSQL cluster of our own (trust auth) in a temp dir, on a free port.

    initdb refuses to run as root: there the cluster belongs to the `postgres` user.
    """

    def __init__(self) -> None:
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not (PG_BIN / tool).exists():
                unavailable(f"{PG_BIN / tool} is not installed (PostgreSQL server binaries)")
        self.dir = Path(tempfile.mkdtemp(prefix="selfheal-faults-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            import pwd

            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                unavailable("running as root and there is no postgres user to own the cluster")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run([*self.as_user, *args], check=True, timeout=timeout, capture_output=True)

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.dir / "pg.log"), "-w", "-t", "30", *args,
        )  # fmt: skip

    def start(self) -> None:
        if not self.data.exists():
            self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self._ctl("start")
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE selfheal")

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/selfheal"

    def restart(self) -> None:
        """Stop (fast: every connection is cut) and start again on the same data."""
        self._ctl("-m", "fast", "restart")

    def stop(self) -> None:
        with suppress(Exception):
            self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


# --- replicas ----------------------------------------------------------------------------------
@dataclass
class Replica:
    name: str
    workdir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    sdk: Any = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def log(self) -> Path:
        return self.workdir / "selfheal.log"

    def spawn(self) -> None:
        """Start the process (same port, same environment) without waiting for it."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        full = {
            **os.environ,
            "SELFHEAL_PORT": str(self.port),
            "SELFHEAL_INIT_ADMIN_API_TOKENS": ADMIN,
            "SELFHEAL_INIT_BACKEND_API_TOKENS": CLIENT,
            "SELFHEAL_INIT_FRONTEND_API_TOKENS": FRONTEND,
            "SELFHEAL_ADMIN_PASSWORD": "test-password",
            **self.env,
        }
        with self.log.open("ab") as out:
            out.write(f"\n==== start {self.starts} ====\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "selfheal"), "up"],
                cwd=self.workdir,
                env=full,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise RuntimeError(f"{self.name} exited {code}: {self.tail()}")
            return httpx.get(self.url + "/readyz", timeout=1).status_code == 200

        start = time.monotonic()
        for _ in range(int(timeout / 0.2)):
            try:
                if ready():
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() - start > timeout:
                break
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready in {timeout} s: {self.tail()}")

    def kill(self) -> None:
        """kill -9."""
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.stop_sdk()

    def stop(self) -> None:
        self.stop_sdk()
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def start_sdk(self) -> None:
        """The official Python SDK (UnleashClient) polling this replica every second."""
        from UnleashClient import UnleashClient  # type: ignore[attr-defined]

        client = UnleashClient(
            url=self.url + "/api",
            app_name=f"faults-{self.name}",
            instance_id=f"{self.name}-{uuid.uuid4().hex[:6]}",
            environment="production",
            custom_headers={"Authorization": CLIENT},
            refresh_interval=1,
            metrics_interval=5,
            disable_registration=True,
            cache_directory=None,
        )
        client.initialize_client()
        self.sdk = client

    def stop_sdk(self) -> None:
        if self.sdk is not None:
            with suppress(Exception):
                self.sdk.destroy()
            self.sdk = None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def flag_of(service: str) -> str:
    return f"Kill-{service}"


def b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


class Cluster:
    """N replicas on one database and one bus, a project `website` with one service, one
    kill-switch flag and one remediation (toggle that flag on) per problem."""

    def __init__(self, root: Path, database_url: str, bus_url: str, replicas: int = 3) -> None:
        self.root = root
        self.database_url = database_url
        self.stream = f"FAULTS_{uuid.uuid4().hex[:8]}"
        env = {
            "SELFHEAL_DATABASE_URL": database_url,
            # a shorter ack wait and lease than the defaults (5 s, 10 s) make redelivery and
            # takeover happen sooner; the faults and what is asserted stay the same
            "SELFHEAL_BUS_URL": f"{bus_url}?stream={self.stream}&ack_wait={ACK_WAIT:g}",
            "SELFHEAL_CONTROL__LEASE_SECONDS": "4",
            "SELFHEAL_CONTROL__HEARTBEAT_SECONDS": "1",
            "SELFHEAL_CONTROL__POLL_SECONDS": "0.5",
        }
        self.replicas = [Replica(f"r{i}", root / f"r{i}", dict(env)) for i in range(replicas)]
        self.http = httpx.Client(headers={"Authorization": ADMIN}, timeout=15)
        self.services: list[str] = []
        self.sent: dict[str, dict[str, Any]] = {}  # pid -> first OPEN body
        self.notifications = 0

    # lifecycle
    def start(self, together: bool = False) -> None:
        if together:
            for r in self.replicas:
                r.spawn()
        for r in self.replicas:
            if not together:
                r.spawn()
            r.wait_ready()
        for r in self.replicas:
            r.start_sdk()

    def restart(self, replica: Replica) -> None:
        replica.kill()
        replica.spawn()
        replica.wait_ready()
        replica.start_sdk()

    def stop(self) -> None:
        for r in self.replicas:
            r.stop()
        self.http.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def alive(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive]

    def any(self, n: int = 0) -> Replica:
        alive = self.alive
        assert alive, "no replica is running"
        return alive[n % len(alive)]

    # setup through the public APIs
    def setup(self, services: int) -> None:
        on = self.replicas[0].url
        r = self.http.post(
            on + "/api/controlPlane/v1/project",
            json={"projectName": "website", "shipyard": b64((SEED / "shipyard.yaml").read_text())},
        )
        assert r.status_code == 201, r.text
        remediation = (SEED / "remediations.yaml").read_text()
        assert "EnableStaticContent" in remediation
        for i in range(services):
            service = f"svc-{i}"
            r = self.http.post(
                on + "/api/admin/projects/default/features",
                json={"name": flag_of(service), "type": "kill-switch"},
            )
            assert r.status_code == 201, r.text
            r = self.http.post(
                on + "/api/controlPlane/v1/project/website/service", json={"serviceName": service}
            )
            assert r.status_code == 201, r.text
            r = self.http.post(
                on
                + f"/api/configuration-service/v1/project/website/stage/production/service/{service}/resource",
                json={
                    "resources": [
                        {
                            "resourceURI": "remediation.yaml",
                            "resourceContent": b64(
                                remediation.replace("EnableStaticContent", flag_of(service))
                            ),
                        }
                    ]
                },
            )
            assert r.status_code == 201, r.text
            self.services.append(service)

    # Dynatrace notifications (the seed's problemopen.json, one problem per service)
    def notification(
        self, service: str, state: str = "OPEN", event_id: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = json.loads((SEED / "problemopen.json").read_text())
        pid = f"-{abs(hash(self.stream + service)) % 10**18}"
        body["id"] = event_id or str(uuid.uuid4())
        body["specversion"] = "1.0"
        body["type"] = (
            "sh.keptn.event.problem.open" if state == "OPEN" else "sh.keptn.events.problem"
        )
        body.pop("shkeptncontext", None)
        body["data"].update(
            {"PID": pid, "ProblemID": service, "State": state, "service": service,
             "ProblemTitle": PROBLEM_TITLE, "project": "website", "stage": "production"}
        )  # fmt: skip
        body["data"]["ProblemDetails"]["status"] = state
        return body

    def send(self, body: dict[str, Any], replica: Replica | None = None) -> int:
        """POST one notification; the status code (0 if the replica did not answer)."""
        target = replica or self.any(self.notifications)
        self.notifications += 1
        pid = body["data"]["PID"]
        if body["data"]["State"] == "OPEN":
            self.sent.setdefault(pid, body)
        try:
            return self.http.post(target.url + "/api/v1/event", json=body).status_code
        except httpx.HTTPError:
            return 0

    def open(self, service: str, replica: Replica | None = None) -> dict[str, Any]:
        body = self.notification(service)
        for _ in range(20):  # a replica may be mid-kill: send to the next one (bounded)
            if self.send(body, replica) == 200:
                return body
            time.sleep(0.25)
        raise AssertionError(f"no replica accepted the OPEN for {service}")

    def resolve(self, service: str) -> None:
        body = self.notification(service, "RESOLVED")
        for _ in range(20):
            if self.send(body) == 200:
                return
            time.sleep(0.25)
        raise AssertionError(f"no replica accepted the RESOLVED for {service}")

    # reading back
    def flag_on(self, service: str, replica: Replica | None = None) -> bool:
        r = self.http.get(
            (replica or self.any()).url + f"/api/admin/projects/default/features/{flag_of(service)}"
        )
        assert r.status_code == 200, r.text
        envs = {e["name"]: e["enabled"] for e in r.json()["environments"]}
        return bool(envs.get("production"))

    def flag_changes(self, service: str) -> list[dict[str, Any]]:
        """The flag's production on/off events from its audit log."""
        r = self.http.get(self.any().url + f"/api/admin/events/{flag_of(service)}")
        assert r.status_code == 200, r.text
        return [
            e for e in r.json()["events"]
            if e.get("environment") == "production" and "created" not in e["type"]
        ]  # fmt: skip

    def ledger(self) -> list[dict[str, Any]]:
        """control_actions joined to their sequences' service (the action ledger)."""
        import psycopg
        from psycopg.rows import dict_row

        url = self.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, row_factory=dict_row, connect_timeout=5) as conn:
            return list(
                conn.execute(
                    "SELECT s.service, a.context, a.action_index, a.action, a.status, a.result"
                    " FROM control_actions a JOIN control_sequences s ON s.context = a.context"
                )
            )

    def outbox_pending(self) -> int:
        """Committed events not yet confirmed on the bus (rows of `event_outbox`)."""
        import psycopg

        url = self.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM event_outbox").fetchone()
        return int(row[0]) if row else 0

    def relayed(self) -> float:
        """Events the outbox relays of the live replicas put on the bus (their publisher
        could not), from each one's /metrics."""
        total = 0.0
        for r in self.alive:
            text = httpx.get(r.url + "/metrics", timeout=5).text
            for line in text.splitlines():
                if line.startswith("selfheal_outbox_relayed_events_total "):
                    total += float(line.split()[1])
        return total

    def sequences(self) -> list[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        url = self.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, row_factory=dict_row, connect_timeout=5) as conn:
            return list(
                conn.execute(
                    "SELECT context, service, state, outcome, phase, message FROM control_sequences"
                )
            )

    def sdk_sees(self, replica: Replica, service: str) -> bool:
        return bool(replica.sdk.is_enabled(flag_of(service)))


@dataclass
class Outcome:
    """What one scenario measured (written to faults.json in the test's tmp dir)."""

    scenario: str
    problems_sent: int = 0
    notifications: int = 0
    remediated: int = 0
    duplicated: int = 0
    stuck: int = 0
    recovery_seconds: float | None = None
    figures: dict[str, float] = field(default_factory=dict)
    """Other measured seconds (e.g. flags current on every replica after NATS returned)."""
    notes: list[str] = field(default_factory=list)

    def write(self, tmp: Path) -> None:
        """Append to the report; scenarios running in parallel (pytest-xdist) take turns
        under a lock on a file beside it."""
        path = Path(os.environ.get("SELFHEAL_FAULTS_REPORT", tmp / "faults.json"))
        with (path.parent / (path.name + ".lock")).open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            rows = json.loads(path.read_text()) if path.exists() else []
            rows.append(self.__dict__)
            path.write_text(json.dumps(rows, indent=2))


def verify(cluster: Cluster, outcome: Outcome, services: list[str], settle: float = 30) -> None:
    """The suite's invariants, with `outcome` filled in before anything is asserted.

    Every problem remediated (its flag on, a succeeded toggle in the ledger), no duplicate
    action (ledger rows and flag change events, per service), no stuck sequence (every one
    finished within `settle` s after its RESOLVED), and every live replica's SDK sees every flag on.
    """
    outcome.problems_sent = len(services)
    outcome.notifications = cluster.notifications

    def all_on() -> bool:
        return all(cluster.flag_on(s) for s in services)

    with suppress(AssertionError):
        wait_until("every flag on", all_on, settle)
    for s in services:
        cluster.resolve(s)

    def all_finished() -> bool:
        return all(q["state"] == "finished" for q in cluster.sequences())

    with suppress(AssertionError):
        wait_until("every sequence finished", all_finished, settle, step=0.5)
    time.sleep(ACK_WAIT + 1)  # let a late redelivery show itself before counting
    ledger = cluster.ledger()
    toggles: dict[str, list[dict[str, Any]]] = {s: [] for s in services}
    for row in ledger:
        if row["service"] in toggles:
            toggles[row["service"]].append(row)
    changes = {s: cluster.flag_changes(s) for s in services}
    remediated = [
        s for s in services
        if cluster.flag_on(s) and any(r["status"] == "succeeded" for r in toggles[s])
    ]  # fmt: skip
    duplicated = [s for s in services if len(toggles[s]) > 1 or len(changes[s]) > 1]
    stuck = [q for q in cluster.sequences() if q["state"] != "finished"]
    outcome.remediated = len(remediated)
    outcome.duplicated = len(duplicated)
    outcome.stuck = len(stuck)
    sdk_lag: list[str] = []
    for r in cluster.alive:
        if r.sdk is None:
            continue

        def sees(replica: Replica = r) -> bool:
            return all(cluster.sdk_sees(replica, s) for s in services)

        try:
            wait_until(f"{r.name}'s SDK sees every flag", sees, 10)
        except AssertionError:
            sdk_lag.append(r.name)
    outcome.notes += [f"not remediated: {s}" for s in services if s not in remediated]
    outcome.notes += [
        f"duplicated: {s} ledger={len(toggles[s])} flag changes={len(changes[s])}"
        for s in duplicated
    ]
    outcome.notes += [
        f"stuck: {q['service']} {q['state']}/{q['phase']} {q['message']}" for q in stuck
    ]
    outcome.notes += [f"SDK behind: {n}" for n in sdk_lag]
    assert not outcome.notes, outcome.notes


@contextmanager
def recording(tmp: Path, scenario: str, cluster: Cluster | None = None) -> Iterator[Outcome]:
    """An Outcome for `scenario`, written when the block ends (a failure noted first)."""
    outcome = Outcome(scenario)
    try:
        yield outcome
    except BaseException as e:
        if cluster is not None:
            outcome.problems_sent = outcome.problems_sent or len(cluster.services)
            outcome.notifications = outcome.notifications or cluster.notifications
        reason = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        if reason not in outcome.notes:
            outcome.notes.append(f"failed: {reason}")
        raise
    finally:
        outcome.write(tmp)


@contextmanager
def nats_server(root: Path) -> Iterator[Nats]:
    nats = Nats(root / "nats")
    nats.start()
    try:
        yield nats
    finally:
        nats.stop()


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    pg = OwnPostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()


__all__ = [
    "Cluster",
    "Nats",
    "Outcome",
    "OwnPostgres",
    "Replica",
    "port_open",
    "recording",
    "verify",
]
