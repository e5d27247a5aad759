"""Errors of the delivery infrastructure (subclasses of the core errors)."""

from __future__ import annotations

from selfheal.core import Conflict, NotFound


class DeliveryNotFound(NotFound):
    """No delivery with that id."""


class NotRetryable(Conflict):
    """Only dead-lettered deliveries may be retried by hand."""
