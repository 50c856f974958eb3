"""The extra ImageNet-C types, for custom databases, against plain implementations of the release's code.

Each reference below is written the way the release writes the type (float64 numpy, skimage, scipy;
cv2 where the release calls it), with a ``numpy.random.Generator`` in place of the global random
state. Deterministic types must agree within one grey level on every pixel; random types agree in
PSNR over a few seeds, and where the engine makes the release's own draws (elastic_transform,
spatter), pixel by pixel for the same seed.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.color
import skimage.filters
from scipy.ndimage import map_coordinates
from scipy.ndimage import zoom as scipy_zoom
from scipy.stats import spearmanr
from skimage.metrics import peak_signal_noise_ratio

from degradations import registry
from degradations.distortions import zoom_blur as zoom_module
from degradations.distortions.elastic_transform import _smooth

EXTRAS = {
    "shot_noise": "noise",
    "impulse_noise": "noise",
    "speckle_noise": "noise",
    "gaussian_blur": "blur",
    "zoom_blur": "blur",
    "brightness": "environmental",
    "spatter": "environmental",
    "saturate": "digital",
    "elastic_transform": "digital",
}
DETERMINISTIC = ("gaussian_blur", "zoom_blur", "brightness", "saturate")
RANDOM = ("shot_noise", "impulse_noise", "speckle_noise", "elastic_transform", "spatter")
TINY_SHAPES = [(1, 1), (1, 2), (2, 1), (3, 5), (7, 4)]


def to_uint8(x: np.ndarray) -> np.ndarray:
    """The release's conversion of a [0, 255] float result: truncation."""
    return np.asarray(x).astype(np.uint8)


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    return float(peak_signal_noise_ratio(reference, image, data_range=255))


# ---------------------------------------------------------------- plain references, as the release


def ref_shot_noise(image, c, rng):
    x = np.array(image) / 255.0
    return to_uint8(np.clip(rng.poisson(x * c) / float(c), 0, 1) * 255)


def ref_impulse_noise(image, c, rng):
    x = np.array(image) / 255.0
    out = x.copy()
    flipped = rng.random(x.shape) <= c
    salted = rng.random(x.shape) <= 0.5
    out[flipped & salted] = 1.0
    out[flipped & ~salted] = 0.0
    return to_uint8(np.clip(out, 0, 1) * 255)


def ref_speckle_noise(image, c, rng):
    x = np.array(image) / 255.0
    return to_uint8(np.clip(x + x * rng.normal(size=x.shape, scale=c), 0, 1) * 255)


def ref_gaussian_blur(image, c):
    x = skimage.filters.gaussian(np.array(image) / 255.0, sigma=c, channel_axis=-1)
    return to_uint8(np.clip(x, 0, 1) * 255)


def _clipped_zoom(img, zoom_factor):
    ch0 = int(np.ceil(img.shape[0] / float(zoom_factor)))
    top0 = (img.shape[0] - ch0) // 2
    ch1 = int(np.ceil(img.shape[1] / float(zoom_factor)))
    top1 = (img.shape[1] - ch1) // 2
    return scipy_zoom(img[top0 : top0 + ch0, top1 : top1 + ch1], (zoom_factor, zoom_factor, 1), order=1)


def ref_zoom_blur(image, params):
    factors = np.arange(params[0], params[1], params[2])
    x = (np.array(image) / 255.0).astype(np.float32)
    out = np.zeros_like(x)
    for zoom_factor in factors:
        layer = _clipped_zoom(x, zoom_factor)[: x.shape[0], : x.shape[1], :]
        out[: layer.shape[0], : layer.shape[1]] += layer
    return to_uint8(np.clip((x + out) / (len(factors) + 1), 0, 1) * 255)


def ref_brightness(image, c):
    x = skimage.color.rgb2hsv(np.array(image) / 255.0)
    x[:, :, 2] = np.clip(x[:, :, 2] + c, 0, 1)
    return to_uint8(np.clip(skimage.color.hsv2rgb(x), 0, 1) * 255)


def ref_saturate(image, c):
    x = skimage.color.rgb2hsv(np.array(image) / 255.0)
    x[:, :, 1] = np.clip(x[:, :, 1] * c[0] + c[1], 0, 1)
    return to_uint8(np.clip(skimage.color.hsv2rgb(x), 0, 1) * 255)


def ref_elastic_transform(image, c, rng):
    image = np.array(image, dtype=np.float32) / 255.0
    shape = image.shape
    sigma = np.array(shape[:2]) * 0.01
    alpha = 250 * c
    max_dx = shape[0] * 0.005
    max_dy = shape[0] * 0.005
    dx = (
        skimage.filters.gaussian(rng.uniform(-max_dx, max_dx, size=shape[:2]), sigma, mode="reflect", truncate=3)
        * alpha
    ).astype(np.float32)
    dy = (
        skimage.filters.gaussian(rng.uniform(-max_dy, max_dy, size=shape[:2]), sigma, mode="reflect", truncate=3)
        * alpha
    ).astype(np.float32)
    dx, dy = dx[..., np.newaxis], dy[..., np.newaxis]
    x, y, z = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = np.reshape(y + dy, (-1, 1)), np.reshape(x + dx, (-1, 1)), np.reshape(z, (-1, 1))
    out = map_coordinates(image, indices, order=1, mode="reflect").reshape(shape)
    return to_uint8(np.clip(out, 0, 1) * 255)


def ref_spatter(image, c, rng):
    x = np.array(image, dtype=np.float32) / 255.0
    liquid_layer = rng.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    liquid_layer = skimage.filters.gaussian(liquid_layer, sigma=c[2])
    liquid_layer[liquid_layer < c[3]] = 0
    if int(c[5]) == 0:
        liquid_layer = (liquid_layer * 255).astype(np.uint8)
        dist = 255 - cv2.Canny(liquid_layer, 50, 150)
        dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
        dist = cv2.equalizeHist(dist)
        ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)
        dist = cv2.filter2D(dist, cv2.CV_8U, ker)
        dist = cv2.blur(dist, (3, 3)).astype(np.float32)
        m = cv2.cvtColor(liquid_layer * dist, cv2.COLOR_GRAY2BGRA)
        m /= np.max(m, axis=(0, 1))
        m *= c[4]
        ones = np.ones_like(m[..., :1])
        color = np.concatenate((175 / 255.0 * ones, 238 / 255.0 * ones, 238 / 255.0 * ones), axis=2)
        color = cv2.cvtColor(color, cv2.COLOR_BGR2BGRA)
        x = cv2.cvtColor(x, cv2.COLOR_BGR2BGRA)
        return to_uint8(cv2.cvtColor(np.clip(x + m * color, 0, 1), cv2.COLOR_BGRA2BGR) * 255)
    m = np.where(liquid_layer > c[3], 1, 0)
    m = skimage.filters.gaussian(m.astype(np.float32), sigma=c[4])
    m[m < 0.8] = 0
    ones = np.ones_like(x[..., :1])
    color = np.concatenate((63 / 255.0 * ones, 42 / 255.0 * ones, 20 / 255.0 * ones), axis=2)
    color *= m[..., np.newaxis]
    x *= 1 - m[..., np.newaxis]
    return to_uint8(np.clip(x + color, 0, 1) * 255)


DETERMINISTIC_REFS = {
    "gaussian_blur": lambda image, p: ref_gaussian_blur(image, p[0]),
    "zoom_blur": ref_zoom_blur,
    "brightness": lambda image, p: ref_brightness(image, p[0]),
    "saturate": ref_saturate,
}
RANDOM_REFS = {
    "shot_noise": lambda image, p, rng: ref_shot_noise(image, p[0], rng),
    "impulse_noise": lambda image, p, rng: ref_impulse_noise(image, p[0], rng),
    "speckle_noise": lambda image, p, rng: ref_speckle_noise(image, p[0], rng),
    "elastic_transform": lambda image, p, rng: ref_elastic_transform(image, p[0], rng),
    "spatter": ref_spatter,
}


# ---------------------------------------------------------------- registration and tables


def test_extras_are_registered_with_their_categories():
    for name, category in EXTRAS.items():
        spec = registry.get(name)
        assert spec.category == category
        assert len(spec.candidates) == 12
        assert not spec.in_database
        assert name in registry.names() and name not in registry.names(database_only=True)
    assert "frost" not in registry.names()


def test_release_candidate_tables():
    impulse = [p[0] for p in registry.get("impulse_noise").candidates]
    assert impulse == list(np.logspace(np.log10(0.0005), np.log10(0.5), num=12))
    blur = [p[0] for p in registry.get("gaussian_blur").candidates]
    assert blur == [0.45, 0.5, 0.575, 0.65, 0.8, 1, 1.5, 2.3, 3.5, 6, 9, 12]
    ratio = (0.7 / 0.035) ** (1 / 11)
    assert [p[0] for p in registry.get("brightness").candidates] == [0.035 * ratio**i for i in range(12)]
    assert registry.get("saturate").candidates == (
        (1.1, 0.025), (1.2, 0.027), (1.3, 0.027), (1.5, 0.03), (1.6, 0.04), (1.7, 0.05),
        (1.8, 0.06), (2, 0.08), (2.5, 0.09), (3, 0.1), (5, 0.15), (10, 0.35),
    )  # fmt: skip


def test_own_tables_contain_imagenet_c_severities():
    def column(name, i=0):
        return [p[i] for p in registry.get(name).candidates]

    assert column("shot_noise")[5:10] == [60, 25, 12, 5, 3]
    assert column("speckle_noise")[5:10] == [0.15, 0.2, 0.35, 0.45, 0.6]
    zooms = [tuple(np.round(np.arange(*p), 10)) for p in registry.get("zoom_blur").candidates]
    imagenet_c = [(1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.02), (1, 1.26, 0.02), (1, 1.31, 0.03)]
    assert zooms[5:10] == [tuple(np.round(np.arange(*p), 10)) for p in imagenet_c]
    assert [max(z) for z in zooms] == [1.01, 1.02, 1.04, 1.06, 1.08, 1.11, 1.15, 1.2, 1.24, 1.3, 1.4, 1.5]
    spatter = registry.get("spatter").candidates
    assert [spatter[i] for i in (3, 6, 7, 8, 9)] == [
        (0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0), (0.65, 0.3, 2, 0.68, 0.5, 0),
        (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1),
    ]  # fmt: skip
    elastic = column("elastic_transform")
    assert elastic[0] < 0.05 and elastic[-1] > 0.12 and elastic == sorted(elastic)


# ---------------------------------------------------------------- deterministic types: pixel parity


def assert_within_one(ours: np.ndarray, reference: np.ndarray, what: str) -> None:
    assert ours.shape == reference.shape and ours.dtype == np.uint8
    diff = np.abs(ours.astype(np.int16) - reference.astype(np.int16))
    assert diff.max() <= 1, f"{what}: {int(diff.max())} grey levels off at {np.argwhere(diff > 1)[:3].tolist()}"


@pytest.mark.parametrize("name", ["gaussian_blur", "brightness", "saturate"])
def test_deterministic_types_match_release_on_every_pixel(photos, name):
    spec = registry.get(name)
    for photo_name in ("astronaut", "coffee"):
        image = photos[photo_name]
        for index, params in enumerate(spec.candidates, start=1):
            ours = spec(image, params, np.random.default_rng(index))
            assert_within_one(ours, DETERMINISTIC_REFS[name](image, params), f"{name} {index} {photo_name}")


@pytest.mark.parametrize("index", [1, 4, 6, 7, 12])
def test_zoom_blur_matches_release_on_every_pixel(photos, index):
    spec = registry.get("zoom_blur")
    params = spec.candidates[index - 1]
    for photo_name in ("chelsea", "rocket"):
        image = photos[photo_name]
        ours = spec(image, params, np.random.default_rng(0))
        assert_within_one(ours, ref_zoom_blur(image, params), f"zoom_blur {index} {photo_name}")


def test_zoom_blur_keeps_release_black_line(photos):
    # 320 wide at zoom 1.45: column 319 reads 319 * (220 / 319) > 220, which scipy's constant mode zeroes
    # in that layer; the result's last column is darker, as the release's.
    zoom = np.arange(1, 1.525, 0.05)[9]
    assert zoom_module.zoom_map(320, zoom)[2].tolist() == [False] * 319 + [True]
    image = photos["coffee"]
    spec = registry.get("zoom_blur")
    ours = spec(image, spec.candidates[11], np.random.default_rng(0))
    reference = ref_zoom_blur(image, spec.candidates[11])
    assert_within_one(ours, reference, "zoom_blur candidate 12")
    assert ours[:, -1].mean() < ours[:, -2].mean() - 5


@pytest.mark.parametrize("zoom", [1.01, 1.13, 1.2000000000000002, 1.4500000000000004, 1.5])
@pytest.mark.parametrize("shape", [(240, 320), (7, 4), (3, 5), (1, 2), (2, 1), (1, 1), (97, 61)])
def test_zoom_layers_match_scipy_in_both_backends(zoom, shape):
    image = np.random.default_rng(shape[0] * shape[1]).random(shape + (3,), dtype=np.float32)
    expected = _clipped_zoom(image, zoom)[: shape[0], : shape[1]]
    np.testing.assert_allclose(zoom_module.zoom_layer_numpy(image, zoom), expected, atol=1e-5)
    if zoom_module._probe_cv2():
        np.testing.assert_allclose(zoom_module.zoom_layer_cv2(image, zoom), expected, atol=1e-4)


def test_hsv_types_on_extreme_pixels():
    # Greys (hue 0 in skimage: saturate tints them red), black, white, primaries, ties between channels.
    values = np.array([0, 1, 2, 37, 127, 128, 200, 254, 255])
    grid = np.stack(np.meshgrid(values, values, values, indexing="ij"), axis=-1).reshape(27, 27, 3)
    image = grid.astype(np.uint8)
    for name in ("brightness", "saturate"):
        spec = registry.get(name)
        for index, params in enumerate(spec.candidates, start=1):
            ours = spec(image, params, np.random.default_rng(0))
            assert_within_one(ours, DETERMINISTIC_REFS[name](image, params), f"{name} {index}")


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_types_ignore_the_generator(photos, name):
    spec = registry.get(name)
    image = photos["astronaut"][:60, :80]
    params = spec.candidates[6]
    first = spec(image, params, np.random.default_rng(1))
    assert np.array_equal(first, spec(image, params, np.random.default_rng(2)))


# ---------------------------------------------------------------- random types: statistics


# (candidates, seeds per side, systematic difference allowed in dB); on top of it, 4 standard errors of
# the difference of the two means (few-hit candidates such as impulse_noise 1 vary by a dB per seed).
STATISTICS = {
    "shot_noise": ((1, 6, 10, 12), 4, 0.1),
    "impulse_noise": ((1, 6, 12), 4, 0.1),
    "speckle_noise": ((1, 6, 12), 4, 0.1),
    "elastic_transform": ((1, 6, 12), 4, 0.1),
    "spatter": ((1, 4, 7, 9, 12), 4, 0.1),
}


@pytest.mark.parametrize("name", RANDOM)
def test_random_types_match_release_psnr(photos, name):
    spec = registry.get(name)
    indices, seeds, tolerance = STATISTICS[name]
    for photo_name in ("astronaut", "coffee"):
        image = photos[photo_name]
        for index in indices:
            params = spec.candidates[index - 1]
            ours = [psnr(image, spec(image, params, np.random.default_rng(s))) for s in range(seeds)]
            theirs = [
                psnr(image, RANDOM_REFS[name](image, params, np.random.default_rng(1000 + s)))
                for s in range(seeds)
            ]
            error = np.sqrt((np.var(ours, ddof=1) + np.var(theirs, ddof=1)) / seeds)
            assert abs(np.mean(ours) - np.mean(theirs)) <= tolerance + 4 * error, (
                f"{name} candidate {index} on {photo_name}: {ours} vs {theirs}"
            )


@pytest.mark.parametrize("name", ["elastic_transform", "spatter"])
def test_same_draws_as_release_give_the_same_image(photos, name):
    # These two make the release's draws in the release's order: one seed gives (almost) one image.
    spec = registry.get(name)
    image = photos["chelsea"]
    for index in (1, 5, 8, 10, 12):
        params = spec.candidates[index - 1]
        ours = spec(image, params, np.random.default_rng(index))
        theirs = RANDOM_REFS[name](image, params, np.random.default_rng(index))
        close = np.abs(ours.astype(np.int16) - theirs).max(axis=2) <= 1
        assert close.mean() > 0.995, f"{name} candidate {index}: {close.mean():.4f} of pixels within 1"
        assert psnr(image, ours) == pytest.approx(psnr(image, theirs), abs=0.1)


def test_shot_noise_distribution_per_grey_level():
    # Every grey level, 3 * 400 samples each: mean and variance of the output level per input level.
    image = np.repeat(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 400, axis=0), 3, axis=2)
    spec = registry.get("shot_noise")
    for photons in (3000.0, 60.0, 3.0, 1.0):
        ours = spec(image, (photons,), np.random.default_rng(5)).astype(float)
        theirs = ref_shot_noise(image, photons, np.random.default_rng(6)).astype(float)
        mean_ours, mean_theirs = ours.mean(axis=(0, 2)), theirs.mean(axis=(0, 2))
        spread = np.sqrt((ours.var(axis=(0, 2)) + theirs.var(axis=(0, 2))) / 1200) + 1e-9
        z = (mean_ours - mean_theirs) / spread
        assert np.abs(z).max() < 5.5 and np.abs(z).mean() < 1.2, photons
        var_ratio = (ours.var(axis=(0, 2)) + 1) / (theirs.var(axis=(0, 2)) + 1)
        assert 0.8 < np.median(var_ratio) < 1.25, photons


def test_impulse_noise_hits_and_salt_share(photos):
    image = photos["rocket"]
    spec = registry.get("impulse_noise")
    for amount in (0.0017555958671075652, 0.14240179342178994, 0.5):
        out = spec(image, (amount,), np.random.default_rng(3))
        changed = out != image
        salt = changed & (out == 255)
        pepper = changed & (out == 0)
        assert np.all(changed == (salt | pepper))
        # Hits that land on a sample already 0 or 255 do not show; the share of visible changes:
        expected = amount / 2 * ((image != 255).mean() + (image != 0).mean())
        assert changed.mean() == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("name", RANDOM)
def test_random_types_are_reproducible_and_seed_specific(photos, name):
    spec = registry.get(name)
    image = photos["chelsea"]
    for params in (spec.candidates[0], spec.candidates[-1]):
        first = spec(image, params, np.random.default_rng(11))
        assert np.array_equal(first, spec(image, params, np.random.default_rng(11)))
        assert not np.array_equal(first, spec(image, params, np.random.default_rng(12)))


# ---------------------------------------------------------------- severity ordering and robustness


@pytest.mark.parametrize("name", list(EXTRAS))
def test_candidates_run_from_mild_to_severe(photos, name):
    spec = registry.get(name)
    seeds = range(3) if name in RANDOM else range(1)
    means = []
    for index, params in enumerate(spec.candidates):
        values = [
            psnr(image, spec(image, params, np.random.default_rng(100 * seed + index)))
            for image in photos.values()
            for seed in seeds
        ]
        means.append(np.mean(values))
    assert means[0] > means[-1] + 10, means
    assert means[0] > 30, means
    rho = spearmanr(np.arange(12), means)[0]
    assert rho < -0.95, (rho, means)
    # Broadly monotonic: no candidate is milder than the one two steps before it.
    assert all(means[i] < means[i - 2] for i in range(2, 12)), means


@pytest.mark.parametrize("shape", TINY_SHAPES)
@pytest.mark.parametrize("name", list(EXTRAS))
def test_tiny_images(name, shape):
    spec = registry.get(name)
    image = np.random.default_rng(shape[0] * 10 + shape[1]).integers(0, 256, shape + (3,), dtype=np.uint8)
    for index, params in enumerate(spec.candidates):
        out = spec(image, params, np.random.default_rng(index))
        assert out.shape == image.shape and out.dtype == np.uint8
        if name in DETERMINISTIC:
            assert_within_one(out, DETERMINISTIC_REFS[name](image, params), f"{name} {shape} {index}")


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("shot_noise", (0.0,)),
        ("impulse_noise", (1.5,)),
        ("speckle_noise", (-0.1,)),
        ("gaussian_blur", (0.0,)),
        ("zoom_blur", (1.0, 2.0, 0.0)),
        ("zoom_blur", (0.5, 1.0, 0.1)),
        ("brightness", (float("nan"),)),
        ("saturate", (float("inf"), 0.0)),
        ("elastic_transform", (-1.0,)),
        ("spatter", (0.65, 0.3, 4, 0.69, 0.6, 2)),
    ],
)
def test_bad_parameters_raise_value_error(name, params):
    with pytest.raises(ValueError, match=name):
        registry.get(name)(np.zeros((4, 4, 3), np.uint8), params, np.random.default_rng(0))


def test_elastic_smoothing_matches_skimage_reflect():
    for shape in [(240, 320), (7, 4), (1, 1), (2, 1), (3, 5)]:
        field = np.random.default_rng(0).uniform(-1, 1, shape)
        sigma = np.array(shape) * 0.01 + np.array([0.0, 0.7])
        expected = skimage.filters.gaussian(field, sigma, mode="reflect", truncate=3)
        ours = _smooth(field.astype(np.float32), float(sigma[0]), float(sigma[1]))
        np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_spatter_without_drops_leaves_the_image(photos):
    image = photos["coffee"][:40, :50]
    out = registry.get("spatter")(image, (0.0, 0.01, 2, 0.9, 0.6, 0), np.random.default_rng(0))
    assert np.array_equal(out, image)
