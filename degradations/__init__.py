"""The degradation engine of MIQD-2.5M: distortions, severity selection and region fusion.

    import degradations
    for out in degradations.degrade(rgb, mask, source_id="img1"):
        out.file_name, out.psnr, out.png   # 250 outputs for the database's ten types
"""

from degradations.engine import Candidate, DegradedImage, DistortionRun, degrade, run_distortion
from degradations.imaging import check_rgb8, to_rgb8
from degradations.png import encode_png
from degradations.regions import RegionConfig, RegionMask, fuse, output_name, parse_output_name, region_configs
from degradations.registry import DATABASE_DISTORTIONS, Distortion, get, names, register
from degradations.seeding import candidate_rng, candidate_seed
from degradations.severity import SELECTED_RANKS, psnr, select_ranks

__all__ = [
    "DATABASE_DISTORTIONS",
    "SELECTED_RANKS",
    "Candidate",
    "DegradedImage",
    "Distortion",
    "DistortionRun",
    "RegionConfig",
    "RegionMask",
    "candidate_rng",
    "candidate_seed",
    "check_rgb8",
    "degrade",
    "encode_png",
    "fuse",
    "get",
    "names",
    "output_name",
    "parse_output_name",
    "psnr",
    "region_configs",
    "register",
    "run_distortion",
    "select_ranks",
    "to_rgb8",
]
