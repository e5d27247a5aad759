"""The Unleash delta API: folding its events into a plain client API payload.

Newer SDKs can fetch ``{"events": [...]}`` instead of the full state: a ``hydration`` event
carries every feature and segment, then ``feature-updated``, ``feature-removed``,
``segment-updated`` and ``segment-removed`` events patch it. The engine only ever evaluates a
full v2 payload, so a delta is folded first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def apply_delta(
    payload: Mapping[str, Any] | None, events: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """The v2 payload that results from applying `events`, in order, to `payload`.

    Unknown event types are skipped, so that a newer server does not break evaluation.
    """
    base = payload or {}
    features: dict[str, Mapping[str, Any]] = {
        str(f.get("name")): f for f in base.get("features") or () if isinstance(f, Mapping)
    }
    segments: dict[Any, Mapping[str, Any]] = {
        s.get("id"): s for s in base.get("segments") or () if isinstance(s, Mapping)
    }
    for event in events:
        kind = event.get("type")
        if kind == "hydration":
            features = {
                str(f.get("name")): f for f in event.get("features") or () if isinstance(f, Mapping)
            }
            segments = {
                s.get("id"): s for s in event.get("segments") or () if isinstance(s, Mapping)
            }
        elif kind == "feature-updated":
            feature = event.get("feature")
            if isinstance(feature, Mapping):
                features[str(feature.get("name"))] = feature
        elif kind == "feature-removed":
            features.pop(str(event.get("featureName")), None)
        elif kind == "segment-updated":
            segment = event.get("segment")
            if isinstance(segment, Mapping):
                segments[segment.get("id")] = segment
        elif kind == "segment-removed":
            segments.pop(event.get("segmentId"), None)
    return {
        "version": 2,
        "features": list(features.values()),
        "segments": list(segments.values()),
    }
