"""Fixtures of the fault-injection suite: its own nats-server and a cluster of replicas."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.faults.harness import Cluster, Nats, nats_server


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[Nats]:
    with nats_server(tmp_path) as server:
        yield server


ClusterFactory = Callable[..., Cluster]


@pytest.fixture
def make_cluster(tmp_path: Path, nats: Nats) -> Iterator[ClusterFactory]:
    """`make_cluster(database_url, replicas=3, together=False, **env)`: started, stopped after."""
    made: list[Cluster] = []

    def make(database_url: str, replicas: int = 3, together: bool = False, **env: str) -> Cluster:
        cluster = Cluster(tmp_path / f"c{len(made)}", database_url, nats.url, replicas)
        for r in cluster.replicas:
            r.env.update(env)
        made.append(cluster)
        cluster.start(together=together)
        return cluster

    with ExitStack() as stack:

        def stop_all() -> None:
            for c in made:
                c.stop()

        stack.callback(stop_all)
        yield make
        for c in made:
            for r in c.replicas:
                print(f"---- {r.name} log tail ----\n{r.tail(1500)}")
