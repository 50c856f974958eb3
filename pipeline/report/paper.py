"""The published figures the report sets beside its own: the HVS-based rows of tables 1 and 2 of Wang, Zhang,
Lin, "Image Quality Assessment for Machines: Paradigm, Large-scale Database, and Models" (arXiv:2508.19850,
2025), as its authors reproduce them in their code repository's README (github.com/XiaoqiWang/MIQA).

Both tables are measured on the release's test split. Table 1: the composite label, SRCC / PLCC / KRCC / RMSE
per task. Table 2: the accuracy and the consistency labels, SRCC / PLCC / RMSE per task. The tables do not say
which mapping precedes PLCC and RMSE; HyperIQA and MANIQA are no-reference models this project does not compute.
Keys are the metric registry's names (``hvs.get``) where the metric is registered.
"""

from __future__ import annotations

CITATION = ("Wang, Zhang, Lin, \"Image Quality Assessment for Machines: Paradigm, Large-scale Database, and "
            "Models\", arXiv:2508.19850, 2025")
PAPER_METRICS = ("psnr", "ssim", "vsi", "lpips", "dists", "hyperiqa", "maniqa")
PAPER_TITLES = {"hyperiqa": "HyperIQA", "maniqa": "MANIQA"}

# task -> metric -> (SRCC, PLCC, KRCC, RMSE) of the composite label
_TABLE_1 = {
    "cls": {"psnr": (0.2388, 0.2292, 0.1661, 0.2928), "ssim": (0.3027, 0.2956, 0.2119, 0.2874),
            "vsi": (0.3592, 0.3520, 0.2520, 0.2816), "lpips": (0.3214, 0.3280, 0.2258, 0.2842),
            "dists": (0.3878, 0.3804, 0.2724, 0.2782), "hyperiqa": (0.2496, 0.2279, 0.1741, 0.2929),
            "maniqa": (0.3403, 0.3255, 0.2387, 0.2844)},
    "det": {"psnr": (0.3176, 0.3456, 0.2148, 0.2660), "ssim": (0.4390, 0.4505, 0.3011, 0.2531),
            "vsi": (0.4874, 0.4940, 0.3355, 0.2465), "lpips": (0.5264, 0.5376, 0.3697, 0.2390),
            "dists": (0.5266, 0.5352, 0.3659, 0.2395), "hyperiqa": (0.4462, 0.4463, 0.3031, 0.2537),
            "maniqa": (0.4574, 0.4617, 0.3124, 0.2515)},
    "ins": {"psnr": (0.3242, 0.3530, 0.2196, 0.2553), "ssim": (0.4391, 0.4512, 0.3011, 0.2435),
            "vsi": (0.4919, 0.4985, 0.3392, 0.2365), "lpips": (0.5342, 0.5453, 0.3754, 0.2287),
            "dists": (0.5363, 0.5450, 0.3738, 0.2288), "hyperiqa": (0.4456, 0.4518, 0.3031, 0.2434),
            "maniqa": (0.4636, 0.4680, 0.3176, 0.2411)},
}

# task -> metric -> (accuracy SRCC, PLCC, RMSE, consistency SRCC, PLCC, RMSE)
_TABLE_2 = {
    "cls": {"psnr": (0.2034, 0.1620, 0.3541, 0.2927, 0.2812, 0.2692),
            "ssim": (0.2529, 0.2101, 0.3509, 0.3740, 0.3663, 0.2610),
            "vsi": (0.3020, 0.2515, 0.3473, 0.4392, 0.4336, 0.2528),
            "lpips": (0.2680, 0.2355, 0.3488, 0.3927, 0.4032, 0.2567),
            "dists": (0.3291, 0.2768, 0.3448, 0.4683, 0.4628, 0.2487),
            "hyperiqa": (0.2100, 0.1649, 0.3540, 0.2966, 0.2777, 0.2695),
            "maniqa": (0.2924, 0.2435, 0.3481, 0.3963, 0.3870, 0.2587)},
    "det": {"psnr": (0.2234, 0.2449, 0.2747, 0.3712, 0.3933, 0.2839),
            "ssim": (0.3434, 0.3419, 0.2662, 0.5128, 0.5130, 0.2651),
            "vsi": (0.3799, 0.3685, 0.2634, 0.5700, 0.5571, 0.2565),
            "lpips": (0.4064, 0.3987, 0.2598, 0.6196, 0.6232, 0.2415),
            "dists": (0.4089, 0.3999, 0.2597, 0.6174, 0.6178, 0.2429),
            "hyperiqa": (0.3646, 0.3545, 0.2649, 0.5009, 0.4943, 0.2684),
            "maniqa": (0.3839, 0.3823, 0.2618, 0.4991, 0.4975, 0.2679)},
    "ins": {"psnr": (0.2182, 0.2398, 0.2616, 0.3796, 0.4061, 0.2770),
            "ssim": (0.3271, 0.3284, 0.2545, 0.5174, 0.5204, 0.2589),
            "vsi": (0.3703, 0.3645, 0.2509, 0.5757, 0.5749, 0.2481),
            "lpips": (0.3972, 0.3941, 0.2476, 0.6300, 0.6344, 0.2344),
            "dists": (0.4069, 0.4012, 0.2468, 0.6255, 0.6270, 0.2362),
            "hyperiqa": (0.3486, 0.3442, 0.2530, 0.5056, 0.4995, 0.2626),
            "maniqa": (0.3755, 0.3749, 0.2498, 0.5096, 0.5098, 0.2608)},
}


def paper_figures(task: str, label: str, metric: str) -> dict[str, float]:
    """The paper's figures for (task, label type, metric): keys among srcc, plcc, krcc, rmse; {} when the paper
    has none (a metric or task it did not report)."""
    if label == "composite":
        row = _TABLE_1.get(task, {}).get(metric)
        return dict(zip(("srcc", "plcc", "krcc", "rmse"), row)) if row else {}
    row = _TABLE_2.get(task, {}).get(metric)
    if not row:
        return {}
    part = row[:3] if label == "accuracy" else row[3:] if label == "consistency" else ()
    return dict(zip(("srcc", "plcc", "rmse"), part))
