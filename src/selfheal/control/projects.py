"""Projects, their services and their versioned resources (shipyard, remediation, slo, sli,
webhook files), stored in SQLite or PostgreSQL.

Every upload bumps the project's revision; a resource is read "as of" a revision, so a
sequence keeps reading the files it started with while newer ones are uploaded.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from selfheal.control.errors import InvalidResource, ProjectExists, ProjectNotFound
from selfheal.control.steps import Prepared, Steps, run
from selfheal.storage import Database

metadata = sa.MetaData()
projects_table = sa.Table(
    "control_projects",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)
services_table = sa.Table(
    "control_services",
    metadata,
    sa.Column("project", sa.String(255), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
)
resources_table = sa.Table(
    "control_resources",
    metadata,
    sa.Column("project", sa.String(255), primary_key=True),
    sa.Column("stage", sa.String(255), primary_key=True),
    sa.Column("service", sa.String(255), primary_key=True),
    sa.Column("uri", sa.String(512), primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True),
    sa.Column("content", sa.Text, nullable=True),
    sa.Column("created", sa.Float, nullable=False),
)
SHIPYARD = "shipyard.yaml"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    revision: int
    created: float
    services: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Resource:
    project: str
    stage: str
    service: str
    uri: str
    revision: int
    content: str


def check_name(value: str, field: str) -> str:
    """Keptn's rule: lower-case letters, digits and dashes, starting with a letter."""
    if not value or len(value) > 200 or not value[0].isalpha() or not set(value) <= _NAME_CHARS:
        raise InvalidResource(
            f"{value!r} is not a valid name: use lower-case letters, digits and '-', "
            "starting with a letter",
            field=field,
        )
    return value


def check_uri(uri: str) -> str:
    clean = uri.strip().lstrip("/")
    if not clean or ".." in clean.split("/") or len(clean) > 500:
        raise InvalidResource(f"invalid resource URI {uri!r}", field="resourceURI")
    return clean


class ProjectStore:
    """Projects, services and resource revisions in the `control_*` tables."""

    def __init__(self, database: Database, steps: Steps | None = None) -> None:
        self._db = database
        self._steps = steps
        self._as_of: dict[tuple[str, str, str, str, int], Resource | None] = {}
        t = resources_table
        newest = (
            sa.select(t)
            .where(
                t.c.project == sa.bindparam("w_project"),
                t.c.stage == sa.bindparam("w_stage"),
                t.c.service == sa.bindparam("w_service"),
                t.c.uri == sa.bindparam("w_uri"),
            )
            .order_by(t.c.revision.desc())
            .limit(1)
        )
        self._newest = Prepared(newest)
        self._as_of_revision = Prepared(newest.where(t.c.revision <= sa.bindparam("w_revision")))
        self._revision = Prepared(
            sa.select(projects_table.c.revision).where(
                projects_table.c.name == sa.bindparam("w_name")
            )
        )

    def _forget(self, project: str) -> None:
        for key in [k for k in self._as_of if k[0] == project]:
            del self._as_of[key]

    def _read(self) -> AbstractAsyncContextManager[Any]:
        """Reads join the engine's step (on SQLite: its inline connection). A step holding
        SQLite's write lock must never wait for an aiosqlite pool connection: those may all be
        busy waiting for that same lock."""
        if self._steps is not None:
            return self._steps.connection(write=False)
        return self._db.engine.connect()

    async def revision(self, project: str) -> int | None:
        async with self._read() as conn:
            value = (await run(conn, self._revision, {"w_name": project})).scalar()
        return int(value) if value is not None else None

    async def create_project(self, name: str, shipyard: str, now: float) -> Project:
        self._forget(name)
        try:
            async with self._db.engine.begin() as conn:
                await conn.execute(
                    projects_table.insert().values(name=name, revision=1, created=now)
                )
                await conn.execute(
                    resources_table.insert().values(
                        project=name,
                        stage="",
                        service="",
                        uri=SHIPYARD,
                        revision=1,
                        content=shipyard,
                        created=now,
                    )
                )
        except IntegrityError as exc:
            raise ProjectExists(f"project {name!r} already exists") from exc
        return Project(name, 1, now)

    async def delete_project(self, name: str) -> None:
        self._forget(name)
        async with self._db.engine.begin() as conn:
            gone = await conn.execute(projects_table.delete().where(projects_table.c.name == name))
            if not gone.rowcount:
                raise ProjectNotFound(f"project {name!r} does not exist")
            await conn.execute(services_table.delete().where(services_table.c.project == name))
            await conn.execute(resources_table.delete().where(resources_table.c.project == name))

    async def get_project(self, name: str) -> Project | None:
        async with self._read() as conn:
            row = (
                await conn.execute(sa.select(projects_table).where(projects_table.c.name == name))
            ).first()
            if row is None:
                return None
            services = (
                await conn.execute(
                    sa.select(services_table.c.name)
                    .where(services_table.c.project == name)
                    .order_by(services_table.c.name)
                )
            ).scalars()
            return Project(row.name, row.revision, row.created, tuple(services))

    async def require_project(self, name: str) -> Project:
        project = await self.get_project(name)
        if project is None:
            raise ProjectNotFound(f"project {name!r} does not exist")
        return project

    async def list_projects(self) -> list[Project]:
        async with self._read() as conn:
            rows = (await conn.execute(sa.select(projects_table).order_by("name"))).all()
            svc = (await conn.execute(sa.select(services_table).order_by("name"))).all()
        by_project: dict[str, list[str]] = {}
        for s in svc:
            by_project.setdefault(s.project, []).append(s.name)
        return [
            Project(r.name, r.revision, r.created, tuple(by_project.get(r.name, ()))) for r in rows
        ]

    async def create_service(self, project: str, name: str, now: float) -> None:
        await self.require_project(project)
        try:
            async with self._db.engine.begin() as conn:
                await conn.execute(
                    services_table.insert().values(project=project, name=name, created=now)
                )
        except IntegrityError as exc:
            raise ProjectExists(f"service {name!r} already exists in {project!r}") from exc

    async def delete_service(self, project: str, name: str) -> None:
        async with self._db.engine.begin() as conn:
            gone = await conn.execute(
                services_table.delete().where(
                    services_table.c.project == project, services_table.c.name == name
                )
            )
            if not gone.rowcount:
                raise ProjectNotFound(f"service {name!r} does not exist in {project!r}")

    async def put_resources(
        self, project: str, stage: str, service: str, files: list[tuple[str, str]], now: float
    ) -> int:
        """Store every file as one new project revision (all or nothing); return it."""
        t = projects_table
        async with self._db.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.update(t)
                    .where(t.c.name == project)
                    .values(revision=t.c.revision + 1)
                    .returning(t.c.revision)
                )
            ).first()
            if row is None:
                raise ProjectNotFound(f"project {project!r} does not exist")
            revision = int(row[0])
            for uri, content in files:
                await conn.execute(
                    resources_table.insert().values(
                        project=project,
                        stage=stage,
                        service=service,
                        uri=uri,
                        revision=revision,
                        content=content,
                        created=now,
                    )
                )
        return revision

    async def get_resource(
        self, project: str, stage: str, service: str, uri: str, revision: int | None = None
    ) -> Resource | None:
        """The newest version at or before `revision`, looking at the service, then the stage,
        then the project level (the first level that has the file wins).

        As-of reads never change once the revision exists, so they are cached."""
        if revision is None:
            return await self._lookup(project, stage, service, uri, None)
        key = (project, stage, service, uri, revision)
        if key in self._as_of:
            return self._as_of[key]
        found = await self._lookup(project, stage, service, uri, revision)
        if len(self._as_of) >= 4096:
            self._as_of.clear()
        self._as_of[key] = found
        return found

    async def _lookup(
        self, project: str, stage: str, service: str, uri: str, revision: int | None
    ) -> Resource | None:
        levels = [(stage, service), (stage, ""), ("", "")] if service else [(stage, ""), ("", "")]
        if not stage:
            levels = [("", "")]
        async with self._read() as conn:
            for st, svc in levels:
                params: dict[str, Any] = {
                    "w_project": project,
                    "w_stage": st,
                    "w_service": svc,
                    "w_uri": uri,
                }
                if revision is None:
                    stmt = self._newest
                else:
                    stmt = self._as_of_revision
                    params["w_revision"] = revision
                row = (await run(conn, stmt, params)).first()
                if row is not None:
                    if row.content is None:  # a deletion marker
                        return None
                    return Resource(
                        row.project, row.stage, row.service, row.uri, row.revision, row.content
                    )
        return None

    async def list_resources(
        self, project: str, stage: str = "", service: str = ""
    ) -> list[Resource]:
        """The newest version of each file stored exactly at this level."""
        t = resources_table
        newest = (
            sa.select(t.c.uri, sa.func.max(t.c.revision).label("rev"))
            .where(t.c.project == project, t.c.stage == stage, t.c.service == service)
            .group_by(t.c.uri)
            .subquery()
        )
        stmt = (
            sa.select(t)
            .join(newest, sa.and_(t.c.uri == newest.c.uri, t.c.revision == newest.c.rev))
            .where(t.c.project == project, t.c.stage == stage, t.c.service == service)
            .order_by(t.c.uri)
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            Resource(r.project, r.stage, r.service, r.uri, r.revision, r.content)
            for r in rows
            if r.content is not None
        ]
