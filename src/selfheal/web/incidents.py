"""An incident as a responder reads it: one problem, everything that happened about it.

The problem page is the one page that needs every context at once (the problem and its
evidence from the monitor, the sequences the control plane ran for it, the flag changes
those sequences made, the deliveries to Jira/Slack), so it is composed here, in the web
layer above the contexts, from their public services. Each entry links to its object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selfheal.control.restore_store import Restore
from selfheal.control.sequences import Occurrence, Sequence
from selfheal.control.service import ControlService
from selfheal.core import epoch_from_iso, pages
from selfheal.delivery import Delivery, DeliveryQuery, DeliveryStore
from selfheal.flags.api.ui import change_words
from selfheal.flags.model import AuditEvent
from selfheal.flags.service import FlagsService
from selfheal.monitor.problems import Comment, Problem
from selfheal.monitor.service import MonitorService
from selfheal.runtime import FlipCause, SwitchKey
from selfheal.storage import EventQuery

OPEN_PROBLEMS_LOOKED_AT = 100  # for the flags console's "flipping it back does …"
SEQUENCES_SHOWN = 200  # a problem's sequences, newest first (each is one occurrence's)
FLAG_CHANGES_SHOWN = 500  # flag changes its sequences made


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline: when, what (in words), and the page of the object."""

    time: float
    kind: str  # detected | action | evaluation | flag | comment | delivery | resolved | sequence
    text: str
    link: str | None = None
    actor: str = ""
    actor_link: str | None = None


@dataclass
class Incident:
    problem: Problem
    sequences: list[Sequence] = field(default_factory=list)
    occurrences: list[Occurrence] = field(default_factory=list)
    """Each time the problem opened (and resolved), as the control plane saw it."""
    flag_changes: list[AuditEvent] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)

    @property
    def state(self) -> State:
        """The state in words, for the top of the page."""
        p = self.problem
        head = f"{p.display_id} {p.title} on {p.impacted_entity}"
        if p.is_open or p.end is None:
            head, since = f"{head} is open since", p.start
        else:
            head, since = f"{head} was {p.status.lower()} at", p.end
        tail = ""
        flips = [c for c in self.flag_changes if c.type in FLIPS]
        if flips:
            last = flips[-1]
            tail += (
                f"; flag {last.feature} {flag_change_words(last)}"
                f" in {last.environment} by {actor_words(last.created_by)}"
            )
        running = [s for s in self.sequences if s.state != "finished"]
        if running:
            tail += f"; {len(running)} remediation(s) running"
        elif self.sequences:
            tail += f"; remediation {self.sequences[0].outcome or 'finished'}"
        return State(head, since, tail)


@dataclass(frozen=True, slots=True)
class State:
    """ "P-1 … is open since <time>; flag X turned off → on in production by remediation …"."""

    head: str
    since: float
    tail: str

    def __str__(self) -> str:
        return f"{self.head} {self.since}{self.tail}"


def evidence_words(e: dict[str, Any]) -> str:
    """ "40 % of 20 requests failed in 1 s (threshold 5 %, baseline 0.5 %)"."""
    if "failure_rate_pct" in e:
        text = (
            f"{_num(e['failure_rate_pct'])} % of {_num(e.get('requests', 0))} requests failed"
            f" in {_num(e.get('window_s', 0))} s"
        )
        extra = [f"threshold {_num(e['threshold_pct'])} %"] if "threshold_pct" in e else []
        if e.get("baseline_pct") is not None:
            extra.append(f"baseline {_num(e['baseline_pct'])} %")
        return text + (f" ({', '.join(extra)})" if extra else "")
    if "burn_rate_long" in e:
        return (
            f"error budget burning {_num(e['burn_rate_long'])}× (long window) and "
            f"{_num(e.get('burn_rate_short', 0))}× (short window), alert at "
            f"{_num(e.get('burn_rate_threshold', 0))}× for an SLO of {_num(e.get('slo_pct', 0))} %"
        )
    skip = {"detector", "title", "time"}
    return ", ".join(f"{k} {v}" for k, v in e.items() if k not in skip) or "no details"


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def actor_words(created_by: str) -> str:
    if created_by.startswith(pages.ACTOR_SEQUENCE):
        return f"remediation {created_by[len(pages.ACTOR_SEQUENCE) :][:8]}"
    if created_by.startswith(pages.ACTOR_USER):
        return created_by[len(pages.ACTOR_USER) :]
    return created_by


FLIPS = ("feature-environment-enabled", "feature-environment-disabled")


def flag_change_words(e: AuditEvent) -> str:
    """ "turned on (was off)" for a flip; the audit type in words for anything else."""
    return change_words(e)


class Incidents:
    """Builds an `Incident` from the contexts' public services."""

    def __init__(
        self,
        monitor: MonitorService,
        control: ControlService,
        flags: FlagsService,
        deliveries: DeliveryStore,
    ) -> None:
        self._monitor = monitor
        self._control = control
        self._flags = flags
        self._deliveries = deliveries

    async def sequences_for(self, problem: Problem) -> list[Sequence]:
        """By index on the problem ids a sequence's trigger names (see `is_for`)."""
        ids = tuple(sorted({problem.id, problem.pid, problem.display_id} - {""}))
        seqs, _ = await self._control.list_sequences(problems=ids, limit=SEQUENCES_SHOWN)
        return seqs

    async def restores_for(self, problem: Problem) -> list[Restore]:
        """The restores of this problem (newest first), for the banner."""
        machine = self._control.restores
        return [] if machine is None else await machine.list(problem_id=problem.pid)

    async def flag_changes_by(self, contexts: set[str]) -> list[AuditEvent]:
        """The flag changes the given sequences made, oldest first (by index on the actor)."""
        if not contexts:
            return []
        actors = tuple(sorted(pages.ACTOR_SEQUENCE + c for c in contexts))
        history = await self._flags.history(actors=actors, limit=FLAG_CHANGES_SHOWN)
        return sorted(history, key=lambda e: e.id)

    async def open_incident_switches(self) -> dict[SwitchKey, FlipCause]:
        """`FlipCauses` for the flags console: each switch whose last flip was made by a
        remediation of a problem that is still open (all lookups by index)."""
        problems, _ = await self._monitor.list_problems(
            status="OPEN", limit=OPEN_PROBLEMS_LOOKED_AT
        )
        out: dict[SwitchKey, FlipCause] = {}
        for problem in sorted(problems, key=lambda p: p.start):
            seqs = await self.sequences_for(problem)
            changes = await self.flag_changes_by({s.context for s in seqs})
            made: dict[SwitchKey, AuditEvent] = {}
            for c in changes:  # oldest first: the last flip of each switch wins
                if c.type in FLIPS and c.feature and c.environment:
                    made[(c.project or "default", c.feature, c.environment)] = c
            for key, change in made.items():
                if await self._last_flip_id(key) != change.id:
                    continue  # someone flipped it since
                out[key] = FlipCause(
                    problem.display_id,
                    problem.title,
                    problem.impacted_entity,
                    change.created_by,
                    pages.problem(problem.id),
                )
        return out

    async def _last_flip_id(self, key: SwitchKey) -> int | None:
        project, feature, environment = key
        for e in await self._flags.history(feature, limit=50):  # newest first, by index
            if e.type in FLIPS and e.environment == environment and e.project == project:
                return e.id
        return None

    async def get(self, problem_id: str) -> Incident:
        problem = await self._monitor.get_problem(problem_id)
        incident = Incident(problem)
        incident.sequences = await self.sequences_for(problem)
        incident.occurrences = await self._control.occurrences(incident.sequences)
        contexts = {s.context for s in incident.sequences}
        incident.flag_changes = await self.flag_changes_by(contexts)
        incident.comments = await self._monitor.comments(problem.id)
        found: dict[str, Delivery] = {}
        for key in {problem.pid, problem.id}:
            for d in await self._deliveries.find(DeliveryQuery(problem=key, limit=200)):
                found[d.id] = d
        for context in contexts:
            for d in await self._deliveries.find(DeliveryQuery(keptn_context=context, limit=200)):
                found[d.id] = d
        incident.deliveries = sorted(found.values(), key=lambda d: d.created)
        incident.entries = await self._entries(incident)
        return incident

    async def _entries(self, incident: Incident) -> list[Entry]:
        p = incident.problem
        out: list[Entry] = []
        for e in p.evidence:
            when = e.get("time")
            out.append(
                Entry(
                    float(when) if isinstance(when, int | float) else p.start,
                    "detected",
                    f"Detected by {e.get('detector', 'a detector')}: {evidence_words(e)}",
                    pages.problem(p.id),
                )
            )
        if not p.evidence:
            out.append(Entry(p.start, "detected", f"{p.display_id} opened: {p.title}"))
        for seq in incident.sequences:
            link = pages.sequence(seq.context)
            out.append(
                Entry(seq.created, "sequence", f"{seq.name} sequence started in {seq.stage}", link)
            )
            page = await self._control.events(
                EventQuery(keptn_context=seq.context, page_size=200, oldest_first=True)
            )
            out += [
                _step_entry(ev.type, ev.payload(), ev.source, ev.time, link) for ev in page.events
            ]
            if seq.state == "finished":
                words = f"{seq.name} finished: {seq.outcome or ''} {seq.message}".strip()
                out.append(Entry(seq.updated, "sequence", words, link))
        for c in incident.flag_changes:
            out.append(
                Entry(
                    c.created_at,
                    "flag",
                    f"Flag {c.feature} in {c.environment or 'all environments'}: "
                    f"{flag_change_words(c)}",
                    pages.flag_history(c.project or "default", c.feature or ""),
                    actor_words(c.created_by),
                    pages.actor(c.created_by),
                )
            )
        for m in incident.comments:
            out.append(
                Entry(m.created, "comment", m.message, pages.problem(p.id) + "#comments", m.author)
            )
        for d in incident.deliveries:
            out.append(
                Entry(
                    d.updated,
                    "delivery",
                    f"{d.integration} {d.kind}: {d.status}" + (f" ({d.error})" if d.error else ""),
                    pages.deliveries(problem=d.problem, context=d.keptn_context),
                )
            )
        for o in incident.occurrences:  # a reopened problem: each time it opened and ended
            if o.occurrence > 1:
                out.append(Entry(o.opened, "detected", f"{p.display_id} reopened ({ordinal(o)})"))
            if o.resolved is not None and o is not incident.occurrences[-1]:
                out.append(Entry(o.resolved, "resolved", f"{p.display_id} resolved ({ordinal(o)})"))
        if p.end is not None:
            out.append(Entry(p.end, "resolved", f"{p.display_id} {p.status.lower()}"))
        return sorted((e for e in out if e.kind != "skip"), key=lambda e: e.time)


def ordinal(o: Occurrence) -> str:
    n = o.occurrence
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} time"


def _step_entry(type_: str, data: dict[str, Any], source: str, time: str, link: str) -> Entry:
    from_iso = epoch_from_iso(time)
    if ".action." in type_ and type_.endswith(".triggered"):
        raw = data.get("action")
        action: dict[str, Any] = raw if isinstance(raw, dict) else {}
        what = action.get("action") or action.get("name") or "action"
        words = f"Action {what} triggered: {action.get('description') or ''}".strip()
        return Entry(from_iso, "action", words.rstrip(":"), link)
    if ".action." in type_ and type_.endswith(".finished"):
        words = f"Action finished by {source}: {data.get('result', '')} {data.get('message', '')}"
        return Entry(from_iso, "action", words.strip(), link)
    if ".evaluation." in type_ and type_.endswith(".finished"):
        raw = data.get("evaluation")
        ev: dict[str, Any] = raw if isinstance(raw, dict) else {}
        result = ev.get("result") or data.get("result", "")
        return Entry(
            from_iso, "evaluation", f"Evaluation {result} (score {ev.get('score', '?')})", link
        )
    if ".approval." in type_ and type_.endswith(".triggered"):
        return Entry(from_iso, "action", "Waiting for an approval", link)
    return Entry(from_iso, "skip", type_, link)
