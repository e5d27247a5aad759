"""The flags console: log in, list and search flags, flip them, edit strategies, see history,
SDK metrics and tokens. Server-rendered forms; every action goes through the service."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from selfheal import flashes
from selfheal.core import SelfhealError, pages
from selfheal.flags.access import TokenService, token_view
from selfheal.flags.api import forms
from selfheal.flags.engine import BUILTIN_STRATEGIES
from selfheal.flags.metrics import UsageMetrics
from selfheal.flags.model import AuditEvent, Flag
from selfheal.flags.segments import SegmentService
from selfheal.flags.service import FlagsService
from selfheal.runtime import FlipCause, Runtime


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so a form's `back` cannot send anyone elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/flags"
    return target


def _back(path: str, error: SelfhealError | None = None, note: str | None = None) -> Response:
    return flashes.back(path, error=error, note=note)


def parse_parameters(text: str) -> dict[str, str]:
    """`key=value` per line, as typed in the strategy form."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip():
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def strategy_from_form(form: Any) -> dict[str, Any]:
    return {
        "name": str(form.get("name") or ""),
        "title": str(form.get("title") or "") or None,
        "parameters": parse_parameters(str(form.get("parameters") or "")),
        "constraints": forms.constraints(form),
        "segments": forms.segment_ids(form),
        "disabled": form.get("disabled") == "on",
    }


FLIPS = ("feature-environment-enabled", "feature-environment-disabled")


def change_words(e: AuditEvent) -> str:
    """A history entry in words: "on in production (was off)", or the change type."""
    kind = e.type.removeprefix("feature-").replace("-", " ")
    if e.type in FLIPS:
        after = e.type.endswith("enabled")
        before = _enabled_in(e.pre_data, e.environment)
        was = "" if before is None else f" (was {'on' if before else 'off'})"
        return f"turned {'on' if after else 'off'}{was}"
    return kind


def flip_words(flag: Flag, environment: str, cause: FlipCause | None, by: str = "") -> str:
    """What the confirmation of a flip says: the flag-specific consequence first (when a
    remediation of a problem still open set the switch), then what every flip does.

    `by` is who set the switch last (for the generic words when no open problem is known)."""
    on = flag.env(environment).enabled
    to, was = ("off", "on") if on else ("on", "off")
    words = [f"Turn {flag.name} {to} in {environment}?"]
    if cause is not None:
        who = cause.actor.removeprefix(pages.ACTOR_SEQUENCE)[:8]
        if flag.type == "kill-switch" and on:
            effect = f"{cause.entity} will serve the app again while {cause.problem} is open"
        else:
            effect = (
                f"{cause.entity} goes back to how it was before the remediation while"
                f" {cause.problem} is open"
            )
        words.append(
            f"{effect}: remediation {who} turned it {was} for {cause.problem} ({cause.title})."
        )
    elif by.startswith(pages.ACTOR_SEQUENCE):
        words.append(
            f"It was turned {was} by a remediation: flipping it back undoes that remediation."
        )
    words.append(f"Every SDK reading {environment} gets it {to} within its poll interval.")
    return " ".join(words)


def _enabled_in(data: Any, environment: str | None) -> bool | None:
    envs = data.get("environments") if isinstance(data, dict) else None
    for env in envs if isinstance(envs, list) else []:
        if isinstance(env, dict) and env.get("name") == environment:
            value = env.get("enabled")
            return value if isinstance(value, bool) else None
    return None


def router(
    runtime: Runtime,
    service: FlagsService,
    tokens: TokenService,
    usage: UsageMetrics,
    segments: SegmentService,
) -> APIRouter:
    ui = APIRouter(include_in_schema=False)
    templates = runtime.templates

    def page(request: Request, name: str, user: str, **context: Any) -> HTMLResponse:
        context.update(nav="flags", user=user)
        return templates.TemplateResponse(request, name, context)

    @ui.get("/flags")
    async def flags_page(request: Request, q: str = "") -> Response:
        user = await runtime.ui_user(request)
        flags = await service.list_flags(search=q)
        return page(
            request,
            "flags/list.html",
            user,
            flags=flags,
            causes=await runtime.flip_causes.open_incident_switches(),
            flip_words=flip_words,
            q=q,
            environments=service.environments,
            projects=service.projects,
        )

    @ui.post("/flags")
    async def create(request: Request) -> Response:
        user = await runtime.ui_user(request, "admin")
        form = await request.form()
        name = str(form.get("name") or "")
        project = str(form.get("project") or "default")
        try:
            await service.create_flag(
                name,
                project=project,
                type=str(form.get("type") or "release"),
                description=str(form.get("description") or "") or None,
                actor=f"user:{user}",
            )
        except SelfhealError as exc:
            return _back("/flags", exc)
        return _back(pages.flag(project, name), note="flag created")

    @ui.post("/flags/{project}/{name}/toggle")
    async def toggle(request: Request, project: str, name: str) -> Response:
        user = await runtime.ui_user(request, "responder")
        form = await request.form()
        env = str(form.get("environment") or "")
        back = _safe_next(str(form.get("back") or pages.flag(project, name)))
        try:
            flag = await service.get_flag(name, project)
            await service.set_enabled(
                name, env, not flag.env(env).enabled, project=project, actor=f"user:{user}"
            )
        except SelfhealError as exc:
            return _back(back, exc)
        return _back(back)

    @ui.get("/flags/archive")
    async def archive_page(request: Request) -> Response:
        user = await runtime.ui_user(request)
        return page(
            request, "flags/archive.html", user, flags=await service.list_flags(archived=True)
        )

    @ui.get("/flags/tokens")
    async def tokens_page(request: Request) -> Response:
        user = await runtime.ui_user(request, "admin")
        return page(
            request,
            "flags/tokens.html",
            user,
            tokens=[token_view(t) for t in await tokens.all()],
            environments=service.environments,
            projects=service.projects,
            secret=None,
        )

    @ui.post("/flags/tokens")
    async def create_token(request: Request) -> Response:
        user = await runtime.ui_user(request, "admin")
        form = await request.form()
        try:
            issued = await tokens.create(
                {
                    "tokenName": str(form.get("tokenName") or ""),
                    "type": str(form.get("type") or "client"),
                    "environment": str(form.get("environment") or service.default_environment),
                    "projects": [str(form.get("project") or "*")],
                },
                actor=f"user:{user}",
            )
        except SelfhealError as exc:
            return _back("/flags/tokens", exc)
        return page(
            request,
            "flags/tokens.html",
            user,
            tokens=[token_view(t) for t in await tokens.all()],
            environments=service.environments,
            projects=service.projects,
            secret=issued.secret,
        )

    @ui.post("/flags/tokens/{token_id}/delete")
    async def delete_token(request: Request, token_id: str) -> Response:
        user = await runtime.ui_user(request, "admin")
        try:
            await tokens.delete(token_id, actor=f"user:{user}")
        except SelfhealError as exc:
            return _back("/flags/tokens", exc)
        return _back("/flags/tokens", note="token revoked")

    @ui.get("/flags/{project}/{name}")
    async def detail(request: Request, project: str, name: str) -> Response:
        user = await runtime.ui_user(request)
        try:
            flag = await service.get_flag(name, project, archived=True)
        except SelfhealError as exc:
            return _back("/flags", exc)
        history = await service.history(name, limit=50)
        last_change = {}
        for e in history:  # newest first: the change that set each environment's state
            if e.environment and e.type in FLIPS and e.environment not in last_change:
                last_change[e.environment] = e
        metrics = await usage.for_flag(name)
        peak = max([m.yes + m.no for m in metrics] or [1])
        return page(
            request,
            "flags/detail.html",
            user,
            flag=flag,
            environments=service.environments,
            history=history,
            last_change=last_change,
            causes=await runtime.flip_causes.open_incident_switches(),
            flip_words=flip_words,
            metrics=metrics,
            peak=peak,
            strategies=sorted(BUILTIN_STRATEGIES),
            forms=forms,
            segments=sorted(service.snapshot.segments.values(), key=lambda s: s.id),
            json=json,
            change_words=change_words,
            constraints_json=lambda s: json.dumps([c.to_dict() for c in s.constraints], indent=1),
            variants_json=lambda env: [x.to_dict() for x in env.variants],
        )

    @ui.post("/flags/{project}/{name}/strategies")
    async def add_or_edit_strategy(request: Request, project: str, name: str) -> Response:
        user = await runtime.ui_user(request, "admin")
        form = await request.form()
        env = str(form.get("environment") or "")
        sid = str(form.get("id") or "")
        back = pages.flag(project, name)
        try:
            if form.get("delete") and sid:
                await service.delete_strategy(name, env, sid, project=project, actor=f"user:{user}")
                return _back(back, note="strategy removed")
            raw = strategy_from_form(form)
            if sid:
                await service.update_strategy(
                    name, env, sid, raw, project=project, actor=f"user:{user}"
                )
            else:
                await service.add_strategy(name, env, raw, project=project, actor=f"user:{user}")
        except SelfhealError as exc:
            return _back(back, exc)
        return _back(back, note="strategy saved")

    @ui.post("/flags/{project}/{name}/archive")
    async def archive(request: Request, project: str, name: str) -> Response:
        user = await runtime.ui_user(request, "admin")
        form = await request.form()
        back = pages.flag(project, name)
        try:
            if form.get("revive"):
                await service.revive(name, project=project, actor=f"user:{user}")
            else:
                await service.archive(name, project=project, actor=f"user:{user}")
        except SelfhealError as exc:
            return _back(back, exc)
        return _back(back, note="flag revived" if form.get("revive") else "flag archived")

    @ui.post("/flags/{project}/{name}/variants")
    async def set_variants(request: Request, project: str, name: str) -> Response:
        """Replace one environment's variants with the form's JSON list (as Unleash's PUT)."""
        user = await runtime.ui_user(request, "admin")
        form = await request.form()
        env = str(form.get("environment") or "")
        back = pages.flag(project, name)
        try:
            variants = forms.variants(form)
            await service.set_variants(name, [env], variants, project=project, actor=f"user:{user}")
        except SelfhealError as exc:
            return _back(back, exc)
        return _back(back, note=f"variants of {env} saved")

    @ui.get("/flags/segments")
    async def segments_page(request: Request) -> Response:
        user = await runtime.ui_user(request)
        await service.refresh()
        used: dict[int, list[tuple[str, str]]] = {}
        for flag in service.snapshot.flags.values():
            for env in flag.environments.values():
                for strategy in env.strategies:
                    for sid in strategy.segments:
                        if (flag.project, flag.name) not in used.setdefault(sid, []):
                            used[sid].append((flag.project, flag.name))
        return page(
            request,
            "flags/segments.html",
            user,
            segments=segments.all(),
            used=used,
            forms=forms,
            json=json,
            constraints_json=lambda s: json.dumps([c.to_dict() for c in s.constraints], indent=1),
        )

    @ui.post("/flags/segments")
    async def save_segment(request: Request) -> Response:
        """Create a segment, or update the one whose id the form names."""
        user = await runtime.ui_user(request, "admin")
        form = await request.form()
        sid = str(form.get("id") or "")
        try:
            raw = {
                "name": str(form.get("name") or ""),
                "description": str(form.get("description") or "") or None,
                "constraints": forms.constraints(form),
            }
            if sid.isdigit():
                await segments.update(int(sid), raw, actor=f"user:{user}")
            else:
                await segments.create(raw, actor=f"user:{user}")
        except SelfhealError as exc:
            return _back("/flags/segments", exc)
        return _back("/flags/segments", note=f"segment {raw['name']} saved")

    @ui.post("/flags/segments/{sid}/delete")
    async def delete_segment(request: Request, sid: int) -> Response:
        user = await runtime.ui_user(request, "admin")
        try:
            await segments.delete(sid, actor=f"user:{user}")
        except SelfhealError as exc:
            return _back("/flags/segments", exc)
        return _back("/flags/segments", note="segment deleted")

    return ui
