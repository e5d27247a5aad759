"""The one error every control file raises: what is wrong, on which line, in which field."""

from __future__ import annotations

from selfheal.core import InvalidInput


class SpecError(InvalidInput):
    """A control file (shipyard, remediation, SLO, SLI, webhook) that cannot be accepted.

    `line` is 1-based; `field` is the dotted path (`spec.remediations[0].actionsOnOpen[0].action`),
    so `str(error)` reads "line 7, field '…': required". The web layer maps it to 400 like any
    `InvalidInput`.
    """


__all__ = ["SpecError"]
