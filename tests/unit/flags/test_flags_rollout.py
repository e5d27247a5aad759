"""`FlagsService.set_rollout`: a kill switch's share of users, as Unleash's gradual rollout."""

from __future__ import annotations

import pytest

from selfheal.bootstrap import Container
from selfheal.flags.errors import FlagChanged, InvalidFlagInput
from selfheal.integrations.toggles import HISTORY, RolloutSwitch


async def test_set_rollout_keeps_constraints_and_switches_off_at_zero(
    container: Container,
) -> None:
    svc = container.flags.service
    await svc.create_flag("kill", actor="t")
    probe = {"contextName": "selfhealProbe", "operator": "NOT_IN", "values": ["true"]}
    await svc.add_strategy(
        "kill", "production", {"name": "default", "constraints": [probe]}, actor="t"
    )
    await svc.add_strategy(
        "kill", "production", {"name": "userWithId", "parameters": {"userIds": "7"}}, actor="t"
    )
    await svc.set_enabled("kill", "production", True, actor="t")

    assert await svc.set_rollout("kill", "production", 90, actor="restore:x") is True
    env = (await svc.get_flag("kill")).env("production")
    rollout, other = env.strategies
    assert env.enabled and rollout.name == "flexibleRollout"
    assert rollout.parameters == {"rollout": "90", "stickiness": "sessionId", "groupId": "kill"}
    assert [c.to_dict()["values"] for c in rollout.constraints] == [["true"]]
    assert other.name == "userWithId"  # not ours to change
    assert await svc.set_rollout("kill", "production", 90, actor="restore:x") is False

    assert await svc.set_rollout("kill", "production", 0, actor="restore:x") is True
    env = (await svc.get_flag("kill")).env("production")
    assert not env.enabled and env.strategies[0].parameters["rollout"] == "100"
    history = await svc.history("kill")
    assert {e.created_by for e in history if e.created_by.startswith("restore:")} == {"restore:x"}
    assert any(e.type == "feature-environment-disabled" for e in history)

    with pytest.raises(InvalidFlagInput):
        await svc.set_rollout("kill", "production", 101, actor="t")


async def test_set_rollout_on_a_flag_without_strategies_adds_one(container: Container) -> None:
    svc = container.flags.service
    await svc.create_flag("bare", actor="t")
    await svc.set_rollout("bare", "production", 50, actor="t")
    env = (await svc.get_flag("bare")).env("production")
    assert env.enabled and [s.name for s in env.strategies] == ["flexibleRollout"]


async def test_set_rollout_with_expect_is_a_compare_and_set(container: Container) -> None:
    """`expect` is checked in the write's own transaction: a flag someone changed since the
    caller looked is left as they left it, and `FlagChanged` says what it holds."""
    svc = container.flags.service
    await svc.create_flag("kill", actor="t")
    await svc.set_enabled("kill", "production", True, actor="t")
    assert await svc.set_rollout("kill", "production", 90, actor="restore:x", expect=100)
    await svc.set_enabled("kill", "production", False, actor="admin")  # a person's flip
    before = len(await svc.history("kill"))
    with pytest.raises(FlagChanged) as changed:
        await svc.set_rollout("kill", "production", 50, actor="restore:x", expect=90)
    assert changed.value.actual == 0
    env = (await svc.get_flag("kill")).env("production")
    assert not env.enabled and env.rollout_share == 0
    assert len(await svc.history("kill")) == before  # nothing written, nothing audited
    assert await svc.set_rollout("kill", "production", 100, actor="restore:x", expect=0)
    assert (await svc.get_flag("kill")).env("production").rollout_share == 100


async def test_a_persons_flip_is_found_past_other_environments_changes(
    container: Container,
) -> None:
    """The restore reads a person's flip from the audit log of the kill switch's own
    environment: many automated changes in another environment never push it out of the
    window it reads (`RolloutSwitch.person_change`)."""
    svc = container.flags.service
    switch = RolloutSwitch(svc)
    await svc.create_flag("kill", actor="t")
    await svc.set_enabled("kill", "production", True, actor="remediation:x")
    await svc.set_enabled("kill", "production", False, actor="ann")  # the person's flip
    for n in range(HISTORY + 5):
        await svc.set_enabled("kill", "development", n % 2 == 0, actor="restore:other")
    found = await switch.person_change(
        "kill", "production", project="default", automation=("restore:", "remediation:")
    )
    assert found is not None and found.payload()["createdBy"] == "ann"
