"""Where the project's shared material is: `../shared` beside the checkout (as laid out for
developers and CI), or `SELFHEAL_SHARED`."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SELFHEAL_SHARED") or REPO.parent / "shared")
SEED = SHARED / "seed"
FORMATS = SEED / "formats"
