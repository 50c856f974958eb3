"""Run every benchmark: ``python -m benchmarks`` (``make bench``). Figures are printed, never asserted."""

from __future__ import annotations

import importlib

BENCHMARKS = ("bench_degradations", "bench_scaling", "bench_resume", "bench_ap", "bench_score", "bench_masks",
              "bench_hvs", "bench_report", "bench_mimi", "bench_loader", "bench_known_answer", "bench_real_labels")


def main() -> None:
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        importlib.import_module(f"benchmarks.{name}").main([])


if __name__ == "__main__":
    main()
