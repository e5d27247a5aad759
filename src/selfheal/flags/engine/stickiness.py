"""Stickiness: which context value a rollout or variant hashes, and the hash itself.

Unleash buckets a user by murmur3 (x86, 32-bit, unsigned) of ``"<groupId>:<value>"``: rollouts
use seed 0 and ``% 100 + 1`` (a percentage bucket 1..100), variants use seed 86028157 and
``% total_weight + 1``. The same user therefore lands in the same bucket in every SDK.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import mmh3

from selfheal.flags.engine.context import Context, Resolver, resolver

VARIANT_SEED = 86028157
Picker = Callable[[Context], str | None]

_user_id = resolver("userId")
_session_id = resolver("sessionId")
_remote_address = resolver("remoteAddress")


def normalized_hash(key: str, modulus: int, seed: int = 0) -> int:
    """The 1-based bucket of `key` among `modulus` buckets."""
    return int(mmh3.hash(key, seed, signed=False)) % modulus + 1


def random_value(rng: random.Random) -> str:
    """A throw-away stickiness value, for contexts that carry nothing to stick to."""
    return str(rng.randint(1, 100_000))


def rollout_picker(stickiness: str | None, rng: random.Random) -> Picker:
    """Stickiness for a rollout: default is userId, then sessionId, then random.

    A named field that the context lacks yields None: the rollout then excludes the user,
    as Unleash does for custom stickiness.
    """
    name = stickiness or "default"
    if name == "default":

        def default(context: Context) -> str | None:
            return _user_id(context) or _session_id(context) or random_value(rng)

        return default
    if name == "random":
        return lambda _context: random_value(rng)
    field: Resolver = resolver(name)
    return field


def variant_picker(stickiness: str | None, rng: random.Random) -> Picker:
    """Stickiness for variants: default is userId, sessionId, remoteAddress, then random.

    Unlike rollouts, a missing custom field falls back to a random value, so the user still
    gets some variant.
    """
    name = stickiness or "default"
    if name == "default":

        def default(context: Context) -> str | None:
            return (
                _user_id(context)
                or _session_id(context)
                or _remote_address(context)
                or random_value(rng)
            )

        return default
    if name == "random":
        return lambda _context: random_value(rng)
    field = resolver(name)

    def custom(context: Context) -> str | None:
        return field(context) or random_value(rng)

    return custom
