"""selfheal: flags, monitor and remediation control plane that heal a web service by themselves."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
