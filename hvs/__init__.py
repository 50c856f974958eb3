"""Full-reference image-quality metrics of the human visual system (PSNR, SSIM, MS-SSIM, VIF-p, VSI, FSIM,
GMSD, LPIPS, DISTS), computed by piq as the MIQD-2.5M release did, for degraded images against their sources.

    import hvs
    hvs.names()                                        # registered metrics (no torch import)
    scorer = hvs.Scorer("release", hvs.ComputeSettings(device="cpu"))
    results = scorer.score(source_rgb, image_paths)    # {metric: [MetricResult per image]}

The computation API (:class:`Scorer`, :class:`ComputeSettings`, :class:`MetricResult`) imports torch and piq
when first used.
"""

from __future__ import annotations

from typing import Any

from hvs.registry import GROUPS, MetricSpec, WeightsFile, get, names, register, resolve
from hvs.weights import MissingWeightsError, resolve_weights

_COMPUTE = ("ComputeSettings", "MetricResult", "Scorer")

__all__ = ["GROUPS", "MetricSpec", "MissingWeightsError", "WeightsFile", "get", "names", "register", "resolve",
           "resolve_weights", *_COMPUTE]


def __getattr__(name: str) -> Any:
    if name in _COMPUTE:
        from hvs import compute

        return getattr(compute, name)
    raise AttributeError(f"module 'hvs' has no attribute {name!r}")
