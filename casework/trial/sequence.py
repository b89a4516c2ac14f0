"""Permuted-block randomisation sequences derived from the secret trial key.

Pure standard library (DESIGN.md "Randomisation", method A). Anyone holding
the key can regenerate every stratum's sequence; nobody without it can tell
what comes next, because every choice is drawn from HMAC-SHA256 output.

The construction, version ``pb-hmac-sha256/1``:

1. Each block of a stratum has its own byte stream. Chunk ``c`` (c = 0, 1, …)
   of block ``b`` is ``HMAC-SHA256(key, message)`` where ``message`` is the
   UTF-8 of ``"casework/pb/1" US trial US stratum US b US c`` and US is the
   unit separator ``\\x1f``. The stream is the chunks concatenated.
2. The stream is read as big-endian unsigned 32-bit integers. A uniform
   integer below ``n`` is the first such integer ``x`` with
   ``x < 2**32 - (2**32 mod n)``, taken as ``x mod n`` (rejection sampling,
   so there is no modulo bias).
3. Block ``b``'s size is ``block_sizes[uniform(len(block_sizes))]``.
4. The block holds ``size * t / (t + c)`` treatment and the rest control
   (ratio t:c), listed treatment first, then shuffled by Fisher-Yates: for
   ``i`` from ``size - 1`` down to 1, swap positions ``i`` and
   ``uniform(i + 1)``.
5. Slots are numbered from 1 through block 0, then block 1, and so on.

Block size and shuffle draw from the same stream, in that order.

Each allocation records the version with the key's fingerprint
(``keyed_version``: ``pb-hmac-sha256/1 key:<16 hex digits>``), so the
statistician knows which key to regenerate it with, and a change of key is
noticed before anyone is randomised under the new one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

VERSION = "pb-hmac-sha256/1"
_DOMAIN = "casework/pb/1"
_SEP = "\x1f"
_FINGERPRINT_MESSAGE = b"casework trial key fingerprint"
KEYED_PREFIX = f"{VERSION} key:"


def key_fingerprint(key: bytes) -> str:
    """16 hex digits that name a trial key without revealing it: the first
    64 bits of HMAC-SHA256(key, "casework trial key fingerprint"). Two keys
    share one only by a 1 in 2**64 chance. It gives nothing of the key
    away, nor of any sequence (those are HMACs of other messages): it could
    only confirm a guess at a weak key, as the allocations themselves can."""
    return hmac.new(key, _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]


def keyed_version(key: bytes) -> str:
    """The sequence version an allocation made with ``key`` records:
    ``pb-hmac-sha256/1 key:<fingerprint>``."""
    return KEYED_PREFIX + key_fingerprint(key)


def fingerprint_in(version: str) -> str | None:
    """The key fingerprint an allocation's sequence version records, or
    None: an allocation list's (``list-sha256:…``), or a permuted-block
    allocation stored before fingerprints were recorded (``pb-hmac-sha256/1``
    alone), whose key is unknown."""
    return version.removeprefix(KEYED_PREFIX) if version.startswith(KEYED_PREFIX) else None


class Arm(StrEnum):
    TREATMENT = "treatment"
    CONTROL = "control"

    @property
    def label(self) -> str:
        return self.value.capitalize()


@dataclass(frozen=True)
class BlockDesign:
    """Allocation ratio (treatment, control) and the block sizes to choose from."""

    ratio: tuple[int, int] = (1, 1)
    block_sizes: tuple[int, ...] = (2, 4, 6)

    def __post_init__(self):
        problem = design_problem(self.ratio, self.block_sizes)
        if problem:
            raise ValueError(problem)


def design_problem(ratio: tuple[int, int], block_sizes: tuple[int, ...]) -> str | None:
    """Why a ratio and block sizes cannot make balanced blocks, or None."""
    treatment, control = ratio
    if treatment < 1 or control < 1:
        return "Both parts of the ratio must be whole numbers of 1 or more"
    if not block_sizes:
        return "Give at least one block size"
    unit = treatment + control
    bad = [size for size in block_sizes if size < unit or size % unit]
    if bad:
        return (f"Block sizes must be multiples of {unit} (the ratio {treatment}:{control} "
                f"adds up to {unit}); {', '.join(map(str, bad))} is not")
    if len(set(block_sizes)) != len(block_sizes):
        return "Give each block size once"
    return None


class _Stream:
    """Uniform integers drawn from one block's HMAC-SHA256 stream."""

    def __init__(self, key: bytes, trial: str, stratum: str, block: int):
        self._key = key
        self._prefix = _SEP.join((_DOMAIN, trial, stratum, str(block))) + _SEP
        self._chunk = 0
        self._buffer = b""

    def _u32(self) -> int:
        if len(self._buffer) < 4:
            message = (self._prefix + str(self._chunk)).encode("utf-8")
            self._buffer += hmac.new(self._key, message, hashlib.sha256).digest()
            self._chunk += 1
        value, self._buffer = int.from_bytes(self._buffer[:4], "big"), self._buffer[4:]
        return value

    def uniform(self, n: int) -> int:
        limit = 2**32 - (2**32 % n)
        while True:
            value = self._u32()
            if value < limit:
                return value % n


@lru_cache(maxsize=65_536)
def block(key: bytes, trial: str, stratum: str, index: int,
          design: BlockDesign) -> tuple[Arm, ...]:
    """The arms of block ``index`` (from 0) of a stratum's sequence."""
    stream = _Stream(key, trial, stratum, index)
    size = design.block_sizes[stream.uniform(len(design.block_sizes))]
    treatment, control = design.ratio
    n_treatment = size * treatment // (treatment + control)
    arms = [Arm.TREATMENT] * n_treatment + [Arm.CONTROL] * (size - n_treatment)
    for i in range(size - 1, 0, -1):
        j = stream.uniform(i + 1)
        arms[i], arms[j] = arms[j], arms[i]
    return tuple(arms)


@dataclass(frozen=True)
class Slot:
    slot: int
    arm: Arm
    block: int
    block_size: int


def slots(key: bytes, trial: str, stratum: str, design: BlockDesign) -> Iterator[Slot]:
    """A stratum's sequence, slot 1 onwards, without end."""
    number, index = 1, 0
    while True:
        arms = block(key, trial, stratum, index, design)
        for arm in arms:
            yield Slot(number, arm, index, len(arms))
            number += 1
        index += 1


def slot(key: bytes, trial: str, stratum: str, number: int, design: BlockDesign) -> Slot:
    """Slot ``number`` (from 1) of a stratum's sequence."""
    if number < 1:
        raise ValueError("Slots are numbered from 1")
    for candidate in slots(key, trial, stratum, design):
        if candidate.slot == number:
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover (slots() never ends)
