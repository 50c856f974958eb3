"""Registry of the full-reference metrics: one :class:`MetricSpec` per metric, keyed by a stable name.

A spec says everything needed to run one metric without importing torch: which library call computes it,
whether higher values mean better quality, the smallest image side the call accepts (smaller pairs are
upsampled for that metric only, see :mod:`hvs.resize`), the range its inputs are scaled to, the weight files
it needs, and how much working memory it takes per image pixel (to size the chunks of images).

    import hvs
    hvs.names()                     # every registered metric
    hvs.resolve("release")          # psnr, ssim, ms_ssim, vif_p, vsi: what the release computed with piq
    hvs.get("ms_ssim").min_side     # 161

Adding a metric is one :func:`register` call below. A ``function`` is called as
``function(x, y, data_range=..., reduction="none", **kwargs)`` with ``x`` the degraded batch and ``y`` the
reference (piq's functional metrics); a ``builder`` is called with the resolved weight files
(``{file name: path}``) and returns a module whose ``module(x, y)`` gives one value per image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

TORCH_MODELS_URL = "https://download.pytorch.org/models/"
PIQ_RELEASES_URL = "https://github.com/photosynthesis-team/"


@dataclass(frozen=True)
class WeightsFile:
    """One file of trained weights. Libraries fetch it with torch.hub into its ``checkpoints`` folder, under
    the URL's last path component: the name it has in that cache and in a ``--weights-dir``."""

    url: str

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


# torchvision's VGG16_Weights.IMAGENET1K_V1, the backbone of piq's LPIPS and DISTS
VGG16 = WeightsFile(TORCH_MODELS_URL + "vgg16-397923af.pth")
# piq.LPIPS._weights_url: the LPIPS-VGG linear layers (a list of five (1, C, 1, 1) tensors)
LPIPS_LINEAR = WeightsFile(PIQ_RELEASES_URL + "photosynthesis.metrics/releases/download/v0.4.0/lpips_weights.pt")
# piq.DISTS._weights_url: DISTS' alpha and beta (a dict of two (1, 1475, 1, 1) tensors)
DISTS_ALPHA_BETA = WeightsFile(PIQ_RELEASES_URL + "piq/releases/download/v0.4.1/dists_weights.pt")


@dataclass(frozen=True)
class MetricSpec:
    """One full-reference metric: how to call it and what its values mean."""

    name: str  # stable key: table folder manifests/metrics/<name>/, --metrics value
    title: str  # as printed in tables and plots
    higher_is_better: bool
    min_side: int  # smallest height and width the library accepts
    bytes_per_pixel: int  # peak working memory of a call per image pixel (reference included), measured on CPU
    function: str | None = None  # "module.attribute" of a functional metric
    builder: str | None = None  # "module.attribute" of a factory of a module metric (needs weights)
    weights: tuple[WeightsFile, ...] = ()
    data_range: float = 1.0  # inputs are RGB scaled to [0, data_range]
    kwargs: tuple[tuple[str, Any], ...] = ()  # extra keyword arguments of the call
    units: str = ""

    def __post_init__(self) -> None:
        if (self.function is None) == (self.builder is None):
            raise ValueError(f"{self.name}: give exactly one of function and builder")
        if self.function is not None and self.weights:
            raise ValueError(f"{self.name}: a metric with weights is made by a builder")
        if self.min_side < 1 or self.bytes_per_pixel < 1 or self.data_range <= 0:
            raise ValueError(f"{self.name}: min_side, bytes_per_pixel and data_range must be positive")
        if isinstance(self.kwargs, Mapping):  # accept a dict, store hashable pairs
            object.__setattr__(self, "kwargs", tuple(sorted(self.kwargs.items())))


_REGISTRY: dict[str, MetricSpec] = {}

# The five metrics the release computed for every candidate (piq, default settings), and the full-reference
# ones among the seven HVS metrics of the paper's benchmark (the other two, HyperIQA and MANIQA, are
# no-reference models).
GROUPS = {
    "release": ("psnr", "ssim", "ms_ssim", "vif_p", "vsi"),
    "paper": ("psnr", "ssim", "vsi", "lpips", "dists"),
}


def register(spec: MetricSpec) -> MetricSpec:
    if spec.name in _REGISTRY or spec.name in GROUPS or spec.name == "all":
        raise ValueError(f"metric name {spec.name!r} is taken")
    _REGISTRY[spec.name] = spec
    return spec


def names() -> list[str]:
    """Registered metric names, in registration order."""
    return list(_REGISTRY)


def get(name: str) -> MetricSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(_REGISTRY)}") from None


def resolve(selection: str) -> list[MetricSpec]:
    """Specs for a comma-separated list of metric names and groups (release, paper, all), duplicates removed.

    Raises ValueError naming every unknown entry.
    """
    chosen: list[str] = []
    unknown: list[str] = []
    for word in (w.strip() for w in selection.split(",")):
        if not word:
            continue
        if word == "all":
            chosen += names()
        elif word in GROUPS:
            chosen += GROUPS[word]
        elif word in _REGISTRY:
            chosen.append(word)
        else:
            unknown.append(word)
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(names())}, "
                         f"or the groups {', '.join(GROUPS)}, all")
    if not chosen:
        raise ValueError("no metric selected")
    return [_REGISTRY[n] for n in dict.fromkeys(chosen)]


# --- the registry ---------------------------------------------------------------------------------------
# min_side: the smallest side piq accepts (SSIM's 11-px window, MS-SSIM's 11-px window at the fifth scale,
# VIF's 17-px window at the fourth scale, LPIPS' five VGG stages). bytes_per_pixel: the peak resident memory
# per image pixel measured by `python -m benchmarks.bench_hvs --memory` (256x256 images), rounded up by about
# a quarter. VSI and DISTS work at 256 px internally, so larger images need less per pixel than declared.

register(MetricSpec("psnr", "PSNR", higher_is_better=True, min_side=1, bytes_per_pixel=100,
                    function="piq.psnr", units="dB"))
register(MetricSpec("ssim", "SSIM", higher_is_better=True, min_side=11, bytes_per_pixel=320,
                    function="piq.ssim"))
register(MetricSpec("ms_ssim", "MS-SSIM", higher_is_better=True, min_side=161, bytes_per_pixel=320,
                    function="piq.multi_scale_ssim"))
register(MetricSpec("vif_p", "VIF-p", higher_is_better=True, min_side=41, bytes_per_pixel=240,
                    function="piq.vif_p"))
register(MetricSpec("vsi", "VSI", higher_is_better=True, min_side=1, bytes_per_pixel=320,
                    function="piq.vsi"))
register(MetricSpec("fsim", "FSIM", higher_is_better=True, min_side=2, bytes_per_pixel=1200,
                    function="piq.fsim"))
register(MetricSpec("gmsd", "GMSD", higher_is_better=False, min_side=1, bytes_per_pixel=100,
                    function="piq.gmsd"))
register(MetricSpec("lpips", "LPIPS", higher_is_better=False, min_side=32, bytes_per_pixel=1600,
                    builder="hvs.perceptual.LPIPS", weights=(VGG16, LPIPS_LINEAR)))
register(MetricSpec("dists", "DISTS", higher_is_better=False, min_side=1, bytes_per_pixel=1800,
                    builder="hvs.perceptual.DISTS", weights=(VGG16, DISTS_ALPHA_BETA)))
