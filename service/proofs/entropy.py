"""Where a snapshot's randomness comes from: the operating system's generator in service, a
seeded one only for the published test vectors and the tests (a predictable split, salt or
order would let a reader of the sibling sums recover other parents' amounts)."""

from __future__ import annotations

import random
import secrets
from typing import Protocol, TypeVar

T = TypeVar("T")


class Entropy(Protocol):
    def below(self, bound: int) -> int:
        """A uniform integer in [0, bound)."""
        ...

    def token(self) -> bytes:
        """32 random bytes."""
        ...

    def shuffle(self, items: list[T]) -> None: ...


class SystemEntropy:
    """Cryptographic randomness: what every real snapshot uses."""

    _rng = secrets.SystemRandom()

    def below(self, bound: int) -> int:
        return secrets.randbelow(bound)

    def token(self) -> bytes:
        return secrets.token_bytes(32)

    def shuffle(self, items: list[T]) -> None:
        self._rng.shuffle(items)


class SeededEntropy:
    """Reproducible randomness for test vectors and tests; never for a published snapshot."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def below(self, bound: int) -> int:
        return self._rng.randrange(bound)

    def token(self) -> bytes:
        return self._rng.randbytes(32)

    def shuffle(self, items: list[T]) -> None:
        self._rng.shuffle(items)
