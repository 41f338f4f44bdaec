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

    def tokens(self, n: int) -> list[bytes]:
        """n × 32 random bytes."""
        ...

    def shuffle(self, items: list[T]) -> None: ...


class SystemEntropy:
    """Cryptographic randomness: what every real snapshot uses."""

    _rng = secrets.SystemRandom()

    def below(self, bound: int) -> int:
        return secrets.randbelow(bound)

    def token(self) -> bytes:
        return secrets.token_bytes(32)

    def tokens(self, n: int) -> list[bytes]:
        data = secrets.token_bytes(32 * n)  # one read of the generator, not n
        return [data[i : i + 32] for i in range(0, 32 * n, 32)]

    def shuffle(self, items: list[T]) -> None:
        """A uniform order: the items sorted by 128 random bits each (two keys alike, the
        only source of bias, has odds of about n² / 2^129). One read of the generator and a
        sort in C, where Fisher–Yates asks the generator once per item."""
        keys = secrets.token_bytes(16 * len(items))
        order = sorted(range(len(items)), key=lambda i: keys[16 * i : 16 * i + 16])
        items[:] = [items[i] for i in order]


class SeededEntropy:
    """Reproducible randomness for test vectors and tests; never for a published snapshot."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def below(self, bound: int) -> int:
        return self._rng.randrange(bound)

    def token(self) -> bytes:
        return self._rng.randbytes(32)

    def tokens(self, n: int) -> list[bytes]:
        return [self.token() for _ in range(n)]

    def shuffle(self, items: list[T]) -> None:
        self._rng.shuffle(items)
