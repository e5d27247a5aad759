"""Headless Chromium from Debian (/usr/bin/chromium) for Playwright, started as this machine
needs it: no sandbox (root), and no background networking (the network is closed)."""

from __future__ import annotations

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
