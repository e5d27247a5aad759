from __future__ import annotations

import sys
from pathlib import Path

import pytest

from selfheal.demo.processes import ChildFailed, ProcessGroup, free_port, selfheal_command
from selfheal.demo.scenario import monitor_spec, seed_file
from tests.support.paths import SEED


def test_group_stops_every_child(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path) as group:
        child = group.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
        assert child.alive
    assert not child.alive
    assert child.process.returncode is not None


def test_a_dead_child_reports_its_log(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path) as group:
        child = group.start(
            "boom", [sys.executable, "-c", "print('bad config'); raise SystemExit(3)"]
        )
        child.process.wait(timeout=30)
        with pytest.raises(ChildFailed, match="bad config"):
            child.check()


def test_selfheal_command_runs_this_cli(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path) as group:
        child = group.start("version", selfheal_command("--version"))
        assert child.process.wait(timeout=60) == 0
    assert "selfheal" in child.tail()


def test_free_port_is_a_port() -> None:
    assert 0 < free_port() < 65536


def test_packaged_seed_files_match_the_seed() -> None:
    seed = SEED
    for name in ("shipyard.yaml", "remediations.yaml"):
        assert seed_file(name) == (seed / name).read_text()


def test_monitor_spec_points_at_the_website_with_the_seed_tags() -> None:
    spec = monitor_spec("http://127.0.0.1:9999")
    assert spec["source"]["scrape"]["url"] == "http://127.0.0.1:9999/metrics"
    assert spec["source"]["scrape"]["interval"] == 1
    assert spec["tags"] == {
        "keptn_project": "website",
        "keptn_stage": "production",
        "keptn_service": "front-end",
    }
