"""`make bench-scale`'s picture: memory and latency against the number of idle servers, appliance and stock."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

PANELS = (
    (
        "memory (MB)",
        (("server_working_set_mb", "p50", "per idle server"), ("rss_mb", None, "hub + proxy + supervisord")),
    ),
    (
        "latency p95 (ms)",
        (("users_api_ms", "p95", "GET /hub/api/users"), ("proxied_status_ms", "p95", "proxied /api/status")),
    ),
)
STYLES = {"appliance": "-o", "stock": "--s"}


def value(point: dict, key: str, statistic: str | None) -> float | None:
    figure = point[key]
    return figure["hub + proxy + supervisord"] if statistic is None else figure[statistic]


def scale_plot(results: dict, path: Path) -> None:
    figure, axes = plt.subplots(1, len(PANELS), figsize=(11, 4.2))
    for axis, (title, series) in zip(axes, PANELS, strict=True):
        for hub, style in STYLES.items():
            points = (results.get(hub) or {}).get("checkpoints", [])
            for key, statistic, label in series:
                counts = [point["servers"] for point in points]
                axis.plot(counts, [value(point, key, statistic) for point in points], style, label=f"{hub}: {label}")
        axis.set_title(title)
        axis.set_xlabel("idle servers")
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    machine = results["machine"]
    figure.suptitle(f"make bench-scale, run {results['run']} ({machine['cpus']} cores, {machine['memory_gib']} GiB)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
