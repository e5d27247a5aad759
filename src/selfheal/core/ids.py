"""Identifiers."""

from __future__ import annotations

import uuid


def new_id() -> str:
    """A random UUID4 string, the id format Keptn uses for events and contexts."""
    return str(uuid.uuid4())
