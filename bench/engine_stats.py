"""What the engine says a container uses: memory (as `docker stats` shows it) and CPU-seconds since it started.

From the stats API with one_shot (no second sample), so it works with cgroup v1 and v2 alike.
"""

from concurrent.futures import ThreadPoolExecutor

MB = 1024 * 1024


def snapshot(container) -> dict:
    return container.stats(stream=False, one_shot=True)


def memory_mb(stats: dict) -> dict[str, float]:
    """working_set: usage without inactive page cache (what `docker stats` shows); anon: the processes' own."""
    memory = stats.get("memory_stats") or {}
    detail = memory.get("stats") or {}
    inactive = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    anon = detail.get("total_rss", detail.get("anon", 0))
    return {"working_set": round((memory.get("usage", 0) - inactive) / MB, 1), "anon": round(anon / MB, 1)}


def cpu_seconds(stats: dict) -> float:
    return stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9


def memory_of_all(containers: list, threads: int = 8) -> list[dict[str, float]]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda container: memory_mb(snapshot(container)), containers))


def host_available_mb() -> float:
    """MemAvailable of the machine the bench runs on (the engine's, on this project's machines)."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")
