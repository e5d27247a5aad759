"""`ControlService`: the control plane's public operations, used by its HTTP routes, the
bridge, the CLI (through HTTP) and other contexts (integrations register providers here)."""

from __future__ import annotations

from typing import Any, Protocol

from selfheal.control.actions import ActionProvider
from selfheal.control.engine import SOURCE, SequenceEngine
from selfheal.control.errors import InvalidResource, ProjectNotFound, SequenceConflict
from selfheal.control.evaluation import Evaluator, SliProvider
from selfheal.control.projects import (
    SHIPYARD,
    Project,
    ProjectStore,
    Resource,
    check_name,
    check_uri,
)
from selfheal.control.remediation import RemediationTasks
from selfheal.control.restore import RestoreMachine
from selfheal.control.sequences import Occurrence, Sequence, problem_ids
from selfheal.control.specs import Shipyard, Spec, load_shipyard, validate_resource
from selfheal.core import CloudEvent, new_id, sequence_event, task_event
from selfheal.storage import EventPage, EventQuery


class ResourceCheck(Protocol):
    """A rule another context adds to uploads (integrations: webhook secrets a project may
    use). It raises an `InvalidInput` to refuse the file; nothing of the upload is stored."""

    def __call__(self, project: str, uri: str, spec: Spec) -> None: ...


class ControlService:
    def __init__(
        self,
        engine: SequenceEngine,
        tasks: RemediationTasks,
        evaluator: Evaluator,
        restores: RestoreMachine | None = None,
    ) -> None:
        self.restores = restores
        self.engine = engine
        self.tasks = tasks
        self.evaluator = evaluator
        self.projects: ProjectStore = engine.projects
        self.runtime = engine.runtime
        self._checks: list[ResourceCheck] = []

    # extension points ----------------------------------------------------------------
    def register_action_provider(self, provider: ActionProvider) -> None:
        self.tasks.register(provider)

    def register_sli_provider(self, name: str, provider: SliProvider) -> None:
        self.evaluator.register(name, provider)

    def register_resource_check(self, check: ResourceCheck) -> None:
        self._checks.append(check)

    # projects, services, resources -----------------------------------------------------
    async def create_project(self, name: str, shipyard: str) -> Project:
        check_name(name, "projectName")
        load_shipyard(shipyard)
        return await self.projects.create_project(name, shipyard, self.runtime.clock.now())

    async def delete_project(self, name: str) -> None:
        await self.projects.delete_project(name)

    async def list_projects(self) -> list[Project]:
        return await self.projects.list_projects()

    async def get_project(self, name: str) -> Project:
        return await self.projects.require_project(name)

    async def shipyard(self, project: str, revision: int | None = None) -> Shipyard:
        found = await self.projects.get_resource(project, "", "", SHIPYARD, revision)
        if found is None:
            raise ProjectNotFound(f"project {project!r} does not exist")
        return load_shipyard(found.content)

    async def create_service(self, project: str, name: str) -> None:
        check_name(name, "serviceName")
        await self.projects.create_service(project, name, self.runtime.clock.now())

    async def delete_service(self, project: str, name: str) -> None:
        await self.projects.delete_service(project, name)

    async def add_resources(
        self, project: str, stage: str, service: str, files: list[tuple[str, str]]
    ) -> int:
        """Validate every file first (a 400 naming line and field), then store them all as
        one new revision: an invalid file changes nothing."""
        found = await self.projects.require_project(project)
        if stage:
            shipyard = await self.shipyard(project)
            if shipyard.stage(stage) is None:
                raise ProjectNotFound(f"stage {stage!r} does not exist in project {project!r}")
        if service and service not in found.services:
            raise ProjectNotFound(f"service {service!r} does not exist in project {project!r}")
        if not files:
            raise InvalidResource("at least one resource is required", field="resources")
        clean: list[tuple[str, str]] = []
        for i, (raw_uri, text) in enumerate(files):
            try:
                uri = check_uri(raw_uri)
            except InvalidResource as exc:
                raise InvalidResource(exc.message, field=f"resources[{i}].resourceURI") from exc
            if uri == SHIPYARD and (stage or service):
                raise InvalidResource(
                    "shipyard.yaml belongs to the project level",
                    field=f"resources[{i}].resourceURI",
                )
            spec = validate_resource(uri, text)
            if spec is not None:
                for check in self._checks:
                    check(project, uri, spec)
            if uri == SHIPYARD:
                load_shipyard(text)
            clean.append((uri, text))
        return await self.projects.put_resources(
            project, stage, service, clean, self.runtime.clock.now()
        )

    async def get_resource(
        self, project: str, stage: str, service: str, uri: str, revision: int | None = None
    ) -> str | None:
        found = await self.projects.get_resource(project, stage, service, uri, revision)
        return found.content if found is not None else None

    async def resource(
        self, project: str, stage: str, service: str, uri: str, revision: int | None = None
    ) -> Resource | None:
        return await self.projects.get_resource(project, stage, service, uri, revision)

    async def list_resources(
        self, project: str, stage: str = "", service: str = ""
    ) -> list[Resource]:
        await self.projects.require_project(project)
        return await self.projects.list_resources(project, stage, service)

    # events and sequences ------------------------------------------------------------
    async def send_event(self, event: CloudEvent) -> str:
        """Store and publish an event from the API; its keptnContext (assigned if missing)."""
        context = event.shkeptncontext or new_id()
        await self.runtime.events.publish(event.with_extensions(shkeptncontext=context))
        return context

    async def events(self, query: EventQuery) -> EventPage:
        return await self.runtime.events.query(query)

    async def trigger_sequence(
        self,
        project: str,
        stage: str,
        service: str,
        sequence: str,
        data: dict[str, Any] | None = None,
    ) -> str:
        shipyard = await self.shipyard(project)
        if shipyard.sequence(stage, sequence) is None:
            raise ProjectNotFound(f"stage {stage!r} has no sequence {sequence!r}")
        event = CloudEvent(
            type=sequence_event(stage, sequence, "triggered"),
            source="selfheal/api",
            data={**(data or {}), "project": project, "stage": stage, "service": service},
        )
        return await self.send_event(event)

    async def get_sequence(self, context: str) -> Sequence:
        seq = await self.engine.store.get(context)
        if seq is None:
            raise ProjectNotFound(f"no sequence with keptnContext {context!r}")
        return seq

    async def list_sequences(self, **filters: Any) -> tuple[list[Sequence], int]:
        return await self.engine.store.list(**filters)

    async def occurrences(self, sequences: list[Sequence]) -> list[Occurrence]:
        """The occurrences of the problems these sequences were started for (each opened,
        and resolved or not, as the control plane was told), oldest first."""
        keys = set()
        for seq in sequences:
            pid, display = problem_ids(seq.data)
            if pid or display:
                keys.add(f"{seq.project}/{seq.stage}/{seq.service}/{pid or display}")
        return await self.engine.store.occurrences(sorted(keys))

    async def control(self, context: str, state: str) -> Sequence:
        """`pause`, `resume` or `abort` a sequence (Keptn's sequence control API)."""
        if state not in ("pause", "resume", "abort"):
            raise InvalidResource("state must be pause, resume or abort", field="state")
        engine = self.engine
        async with engine.lock(context), engine.steps.open():
            seq = await self.get_sequence(context)
            if seq.state == "finished":
                raise SequenceConflict(f"sequence {context} has finished ({seq.outcome})")
            if state == "abort":
                return await engine.finish(seq, "aborted", "aborted by request") or seq
            if state == "pause":
                return await engine.store.save(seq, paused=True) or seq
            resumed = await engine.store.save(seq, paused=False)
            if resumed is None:
                return seq
            now = self.runtime.clock.now()
            tasks = await engine.tasks(resumed)
            if resumed.phase == "idle" and resumed.state == "started":
                return await engine.advance(resumed) or resumed
            if (
                resumed.phase in ("delayed", "cooldown")
                and resumed.deadline is not None
                and resumed.deadline <= now
            ):
                return (
                    await engine.dispatch(resumed, resumed.task_index, tasks[resumed.task_index])
                    or resumed
                )
            return resumed
        raise SequenceConflict(f"sequence {context} changed meanwhile; try again")

    async def approve(self, keptn_context: str, approved: bool, *, by: str) -> Sequence:
        seq = await self.get_sequence(keptn_context)
        if self.restores is not None and seq.phase != "approval":
            waiting = await self.restores.store.get(keptn_context)
            if waiting is not None and waiting.state == "approval":
                # the same approval (console, API, Slack button) approves the restore that
                # this remediation's context is waiting on
                await self.restores.approve(keptn_context, approved, by=by)
                return seq
        if seq.state != "started" or seq.phase != "approval" or seq.triggered_id is None:
            raise SequenceConflict(f"sequence {keptn_context} is not waiting for an approval")
        verdict = "approved" if approved else "rejected"
        event = CloudEvent(
            type=task_event("approval", "finished"),
            source=SOURCE,
            data={
                **self.engine.base(seq),
                "status": "succeeded",
                "result": "pass" if approved else "fail",
                "message": f"{verdict} by {by}",
                "approval": {"by": by, "approved": approved},
            },
        ).with_extensions(shkeptncontext=keptn_context, triggeredid=seq.triggered_id)
        await self.engine.answer(keptn_context, [event])
        return await self.get_sequence(keptn_context)
