"""The seed scenario: a website behind a kill switch, its CDN, a load generator, and the
runner that shows the platform closing the loop (fault → problem → flag → CDN → resolved)."""

from __future__ import annotations

from selfheal.demo.backend import Backend, BackendFailure, Fault
from selfheal.demo.cdn import create_cdn
from selfheal.demo.flagsource import FlagSource, StaticFlags, UnleashFlags
from selfheal.demo.loadgen import LoadGenerator
from selfheal.demo.traffic import Bucket, Sample, bucketize
from selfheal.demo.website import FLAG_NAME, CdnPage, PageSource, create_website

__all__ = [
    "FLAG_NAME",
    "Backend",
    "BackendFailure",
    "Bucket",
    "CdnPage",
    "Fault",
    "FlagSource",
    "LoadGenerator",
    "PageSource",
    "Sample",
    "StaticFlags",
    "UnleashFlags",
    "bucketize",
    "create_cdn",
    "create_website",
]
