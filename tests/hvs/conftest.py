"""Fixtures of the metric tests: a weights dir with synthetic LPIPS and DISTS files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hvs.synthetic import write_synthetic_weights


@pytest.fixture(scope="session")
def synthetic_weights_dir(tmp_path_factory) -> Path:
    return write_synthetic_weights(tmp_path_factory.mktemp("hvs_weights"))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: these small images gain nothing from more, and on a shared 2-core machine
    two threads per test process run several times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
