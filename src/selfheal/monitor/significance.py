"""The statistics behind the failure-rate detectors (see docs/monitor.md for the reasoning).

`binomial_tail(k, n, p)` is P(X >= k) for X ~ Binomial(n, p), summed in log space so it
stays exact for the thousands of requests in a long window. `wilson_upper` bounds a learned
baseline from above so that a short learning period cannot set the bar too low.
"""

from __future__ import annotations

import math


def _log_pmf(i: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
    )


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k), X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    if k <= n * p:
        return 1.0 - _lower_tail(k - 1, n, p)
    total = 0.0
    first = _log_pmf(k, n, p)
    for i in range(k, n + 1):
        term = math.exp(_log_pmf(i, n, p) - first)
        total += term
        if term < 1e-12 * total:
            break
    return min(1.0, math.exp(first) * total)


def _lower_tail(k: int, n: int, p: float) -> float:
    """P(X <= k)."""
    if k < 0:
        return 0.0
    total = 0.0
    first = _log_pmf(k, n, p)
    for i in range(k, -1, -1):
        term = math.exp(_log_pmf(i, n, p) - first)
        total += term
        if term < 1e-12 * total:
            break
    return min(1.0, math.exp(first) * total)


def wilson_upper(errors: float, requests: float, z: float = 2.0) -> float:
    """Upper end of the Wilson score interval of a proportion."""
    if requests <= 0:
        return 1.0
    p = errors / requests
    z2 = z * z
    centre = p + z2 / (2 * requests)
    spread = z * math.sqrt(p * (1 - p) / requests + z2 / (4 * requests * requests))
    return min(1.0, (centre + spread) / (1 + z2 / requests))


def exceeds(errors: float, requests: float, threshold: float, alpha: float) -> tuple[bool, float]:
    """Is the failure rate significantly above `threshold`? Returns (verdict, p-value):
    the chance of seeing at least this many errors if the true rate were the threshold."""
    n = round(requests)
    k = round(errors)
    if n <= 0 or k <= threshold * n:
        return False, 1.0
    p_value = binomial_tail(k, n, threshold)
    return p_value < alpha, p_value
