from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
import yaml

from selfheal.demo.processes import ChildFailed, ProcessGroup, free_port, selfheal_command
from selfheal.demo.scenario import monitor_spec, seed_file
from selfheal.demo.stack import PortTaken, Stack, StackOptions
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
    assert seed_file("shipyard.yaml") == (SEED / "shipyard.yaml").read_text()
    # The seed's remediations.yaml, line for line, plus selfheal's restore: block.
    seed = (SEED / "remediations.yaml").read_text()
    packaged = seed_file("remediations.yaml")
    assert packaged.startswith(seed.rstrip("\n") + "\n")
    ours = yaml.safe_load(packaged)
    restore = ours["remediations"][0].pop("restore")
    assert ours == yaml.safe_load(seed)
    assert restore["steps"][-1] == 0


def test_monitor_spec_probes_the_website_and_slices_the_origin() -> None:
    spec = monitor_spec("http://127.0.0.1:9999")
    assert spec["probe"]["url"] == "http://127.0.0.1:9999/"
    assert spec["probe"]["bypass"] == {"header": "X-Selfheal-Probe", "value": "true"}
    assert spec["origin_slice"] == {"label": "served_by", "value": "app"}


def test_monitor_spec_points_at_the_website_with_the_seed_tags() -> None:
    spec = monitor_spec("http://127.0.0.1:9999")
    assert spec["source"]["scrape"]["url"] == "http://127.0.0.1:9999/metrics"
    assert spec["source"]["scrape"]["interval"] == 1
    assert spec["tags"] == {
        "keptn_project": "website",
        "keptn_stage": "production",
        "keptn_service": "front-end",
    }


async def test_a_port_answered_by_another_process_is_refused(tmp_path: Path) -> None:
    """Issue 12.7: the load must never measure a website this run did not start."""
    with ProcessGroup(tmp_path) as group:
        stack = Stack(StackOptions(data_dir=tmp_path), group)
        child = group.start("website", [sys.executable, "-c", "import time; time.sleep(60)"])
        stack.children["website"] = child
        answering = [child.process.pid + 1]

        def handle(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json={"flags_ready": True, "pid": answering[0]})

        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
            with pytest.raises(
                PortTaken,
                match=f"not by the website this run started \\(pid {child.process.pid}\\)",
            ):
                await stack.wait_website(client, timeout=30)
            answering[0] = child.process.pid
            await stack.wait_website(client, timeout=30)
