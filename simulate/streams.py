"""Named random streams: one numpy Generator per random source, all spawned from one seed.

Each source gets a child of ``SeedSequence(seed)`` chosen by its *name*, not by the order in
which sources are used, so two what-if runs with the same seed draw identical numbers for every
source they share (common random numbers), whatever else differs between them.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["Streams"]


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


class Streams:
    """A lazily built ``numpy.random.Generator`` per source name."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._generators: dict[str, np.random.Generator] = {}

    def __getitem__(self, name: str) -> np.random.Generator:
        generator = self._generators.get(name)
        if generator is None:
            sequence = np.random.SeedSequence(self.seed, spawn_key=(_name_key(name),))
            generator = np.random.Generator(np.random.PCG64(sequence))
            self._generators[name] = generator
        return generator
