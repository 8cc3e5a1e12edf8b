"""Run ids (short, unique, sortable by creation time) and friendly default run names."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase, no i/l/o/u

_ADJECTIVES = (
    "amber",
    "bold",
    "brave",
    "bright",
    "calm",
    "clever",
    "cosmic",
    "crisp",
    "daring",
    "dusty",
    "eager",
    "fancy",
    "fierce",
    "gentle",
    "golden",
    "happy",
    "hidden",
    "icy",
    "jolly",
    "keen",
    "lively",
    "lucky",
    "misty",
    "noble",
    "olive",
    "proud",
    "quiet",
    "rapid",
    "royal",
    "rustic",
    "silent",
    "silver",
    "smooth",
    "solar",
    "steady",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "wild",
)
_NOUNS = (
    "badger",
    "beacon",
    "breeze",
    "canyon",
    "cedar",
    "comet",
    "coral",
    "delta",
    "ember",
    "falcon",
    "fjord",
    "forest",
    "glacier",
    "harbor",
    "heron",
    "island",
    "lagoon",
    "lynx",
    "meadow",
    "meteor",
    "nebula",
    "orbit",
    "otter",
    "owl",
    "panda",
    "pine",
    "prairie",
    "quartz",
    "raven",
    "reef",
    "river",
    "sparrow",
    "summit",
    "tundra",
    "valley",
    "willow",
    "wolf",
    "zephyr",
)


def _b32(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_run_id() -> str:
    """16 characters: 9 of milliseconds since the epoch (sortable), 7 random (35 bits)."""
    return _b32(int(time.time() * 1000), 9) + _b32(secrets.randbits(35), 7)


def new_stream_id() -> str:
    return _b32(secrets.randbits(60), 12)


def new_run_name() -> str:
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000)}"
