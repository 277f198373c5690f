"""Write a benchmark's numbers (bench.json) and its picture (bench.png)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(result: dict[str, Any], out: Path) -> Path:
    path = out / "bench.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


BASELINE_STYLES = ({"linestyle": "--", "color": "red"}, {"linestyle": "-.", "color": "black"})


def write_plot(runs: list[dict[str, Any]], baselines: dict[str, float | None], out: Path) -> Path:
    """Latency percentiles and throughput against offered load, one point per run, with each
    direct baseline (jobs/s, no queue) as a horizontal line."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to a file
    from matplotlib import pyplot as plt

    offered = [r["offered_rate"] for r in runs]
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(11, 4.2))
    for q in ("p50", "p90", "p99"):
        latency.plot(offered, [r["latency_ms"][q] or 0 for r in runs], marker="o", label=q)
    latency.set(xlabel="offered load (jobs/s)", ylabel="end-to-end latency (ms)", title="Latency")
    latency.legend()
    throughput.plot(offered, [r["throughput_jobs_s"] for r in runs], marker="o", label="through the queue")
    throughput.plot(offered, offered, linestyle=":", color="grey", label="offered")
    for (name, jobs_s), style in zip(baselines.items(), BASELINE_STYLES, strict=False):
        if jobs_s and jobs_s < 3 * max(offered):  # a null runner's millions would flatten the plot
            throughput.axhline(jobs_s, label=f"{name} (no queue)", **style)
    throughput.set(xlabel="offered load (jobs/s)", ylabel="completed jobs/s", title="Throughput")
    throughput.legend()
    figure.tight_layout()
    path = out / "bench.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
