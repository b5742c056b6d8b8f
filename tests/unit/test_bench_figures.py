"""The scale bench's arithmetic: memory from the engine's stats (cgroup v1 and v2), spreads, checkpoints, and
the hub restart's milestones read from JupyterHub's log."""

import argparse
from datetime import UTC, datetime

import pytest

from bench.engine_stats import cpu_seconds, memory_mb
from bench.scale import checkpoints, restart_timeline, spread

MB = 1024 * 1024


def test_memory_from_cgroup_v1_stats_leaves_out_inactive_page_cache():
    stats = {"memory_stats": {"usage": 80 * MB, "stats": {"total_inactive_file": 16 * MB, "total_rss": 60 * MB}}}
    assert memory_mb(stats) == {"working_set": 64.0, "anon": 60.0}


def test_memory_from_cgroup_v2_stats_leaves_out_inactive_page_cache():
    stats = {"memory_stats": {"usage": 70 * MB, "stats": {"inactive_file": 4 * MB, "anon": 58 * MB}}}
    assert memory_mb(stats) == {"working_set": 66.0, "anon": 58.0}


def test_cpu_seconds_come_from_nanoseconds():
    assert cpu_seconds({"cpu_stats": {"cpu_usage": {"total_usage": 1_250_000_000}}}) == 1.25


def test_spread_of_figures():
    assert spread([4.0, 1.0, 3.0, 2.0, 100.0]) == {"p50": 3.0, "p95": 100.0, "mean": 22.0, "count": 5}
    assert spread([]) == {"p50": None, "p95": None, "mean": None, "count": 0}


def test_checkpoints_are_sorted_distinct_positive_counts():
    assert checkpoints("200,10,50,10") == [10, 50, 200]
    with pytest.raises(argparse.ArgumentTypeError, match="positive server counts"):
        checkpoints("0,10")


def test_restart_milestones_come_from_log_lines_after_the_restart():
    since = datetime(2026, 12, 2, 13, 55, 30, tzinfo=UTC).timestamp()
    logs = "\n".join(
        [
            "hub-1  | [I 2026-12-02 13:55:20.000 JupyterHub app:3565] Initialized 200 spawners in 3.0 seconds",
            "hub-1  | 2026-12-02 13:55:37,423 INFO supervisord started with pid 1",
            "hub-1  | [I 2026-12-02 13:55:43.988 JupyterHub app:3565] Initialized 200 spawners in 3.187 seconds",
            "hub-1  | [I 2026-12-02 13:55:44.010 JupyterHub app:3913] Hub API listening on http://0.0.0.0:8081/hub/",
            "[I 2026-12-02 13:55:44.886 JupyterHub app:3944] JupyterHub is now running at http://:8000",
        ]
    )
    assert restart_timeline(logs, since) == {
        "spawners checked": 13.99,
        "hub API listening": 14.01,
        "routes checked, hub running": 14.89,
    }
