"""Segments: named constraint sets that strategies reference by id."""

from __future__ import annotations

from typing import Any

from selfheal.core import Conflict
from selfheal.flags import validation as v
from selfheal.flags.errors import SegmentNotFound
from selfheal.flags.model import Segment
from selfheal.flags.service import FlagsService


def _parse(raw: Any, sid: int = 0) -> Segment:
    d = v.obj(raw, "body")
    name = v.string(d.get("name"), "name")
    if not name:
        raise v.fail("must not be empty", "name")
    return Segment(
        id=sid,
        name=name,
        constraints=v.constraints(d.get("constraints"), "constraints"),
        description=v.string(d.get("description"), "description", optional=True),
        project=v.string(d.get("project"), "project", optional=True),
    )


class SegmentService:
    def __init__(self, flags: FlagsService) -> None:
        self.flags = flags

    def all(self) -> list[Segment]:
        return sorted(self.flags.snapshot.segments.values(), key=lambda s: s.id)

    def get(self, sid: int) -> Segment:
        found = self.flags.snapshot.segments.get(sid)
        if found is None:
            raise SegmentNotFound(f"no segment with id {sid}")
        return found

    async def create(self, raw: Any, *, actor: str = "admin") -> Segment:
        segment = _parse(raw)
        stored, event = await self.flags.store.put_segment(
            segment, self.flags.audit("segment-created", actor, None)
        )
        await self.flags._done(event)
        assert stored is not None
        return stored

    async def update(self, sid: int, raw: Any, *, actor: str = "admin") -> Segment:
        await self.flags.refresh()
        before = self.get(sid)
        segment = _parse(raw, sid)
        stored, event = await self.flags.store.put_segment(
            segment, self.flags.audit("segment-updated", actor, None, pre_data=before.to_dict())
        )
        await self.flags._done(event)
        assert stored is not None
        return stored

    async def delete(self, sid: int, *, actor: str = "admin") -> None:
        await self.flags.refresh()
        before = self.get(sid)
        users = sorted(
            f.name
            for f in self.flags.snapshot.flags.values()
            for env in f.environments.values()
            for s in env.strategies
            if sid in s.segments
        )
        if users:
            raise Conflict(f"segment {sid} is used by {', '.join(sorted(set(users)))}")
        _none, event = await self.flags.store.put_segment(
            None,
            self.flags.audit("segment-deleted", actor, None, pre_data=before.to_dict()),
            delete=sid,
        )
        await self.flags._done(event)
