"""How pytest-xdist hands tests to its workers under `--dist loadgroup` (what `make test` uses).

A suite that starts its own servers and replicas (tests/faults) or builds an image
(tests/deploy) runs whole on one worker: split across workers its tests would compete for the
two cores and for their own pacing, and the image would be built once per worker. So does a
module whose tests share one `selfheal up` (a module-scoped fixture is set up once per worker
that runs any of its tests). Every other test is a unit of its own.

The group is read from the test's path, not from an `xdist_group` mark: the worker that
collects marks can no longer rename a test to carry its group under pytest 9 (xdist 3.8 still
tries, and the mark is silently ignored), and the controller that schedules sees only names.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

SUITES = {
    "tests/faults/": "faults",
    "tests/deploy/": "deploy",
    "tests/integration/flags/test_flags_python_sdks.py": "flags-python-sdks",
}
"""Path prefix → group. The suites' markers (`-m faults`, `-m deploy`) are in pyproject.toml."""


def group_of(nodeid: str) -> str | None:
    """The group a test belongs to, if any."""
    for prefix, group in SUITES.items():
        if nodeid.startswith(prefix):
            return group
    return None


class SuiteScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """Load scheduling where each of `SUITES` is one unit of work.

    Units go out largest first (xdist's `loadscopereorder`), so a group of several tests
    starts at once on a worker of its own; single tests follow in collection order, which
    the workers sort `slow` first (tests/conftest.py) so long tests do not end the run.
    """

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid) or nodeid
