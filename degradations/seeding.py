"""Random generators seeded from stable ids, so a candidate's draws never depend on run order."""

from __future__ import annotations

import hashlib

import numpy as np

_MASK32 = 0xFFFFFFFF


def _words(text: str) -> list[int]:
    digest = hashlib.sha256(text.encode("utf-8")).digest()[:16]
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def candidate_seed(run_seed: int, source_id: str, distortion: str, candidate: int) -> int:
    """The 64-bit seed of one (source, distortion, candidate): ``numpy.random.default_rng(seed)``
    reproduces that candidate's draws exactly."""
    if not 0 <= run_seed < 2**64:
        raise ValueError(f"run seed must be in [0, 2**64), got {run_seed}")
    entropy = [run_seed & _MASK32, run_seed >> 32, *_words(source_id), *_words(distortion), candidate]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


def candidate_rng(run_seed: int, source_id: str, distortion: str, candidate: int) -> np.random.Generator:
    return np.random.default_rng(candidate_seed(run_seed, source_id, distortion, candidate))
