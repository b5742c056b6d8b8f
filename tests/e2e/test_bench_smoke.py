"""`make bench` in small (one spawn, a burst of 3; the broker's bursts in two rounds), so that it cannot rot: every
figure is there and sane."""

import json

from bench.run import STEPS, main


def test_the_bench_runs_end_to_end_and_reports_every_figure(docker_client, tmp_path):
    arguments = ["--sequential", "1", "--broker-pairs", "1", "--burst", "3", "--burst-rounds", "2", "--no-cold-builds"]
    assert main([*arguments, "--results", str(tmp_path)]) == 0

    [report] = tmp_path.glob("bench-*.json")
    results = json.loads(report.read_text())
    for name, rounds in (("floor", 1), ("appliance", 2), ("without broker", 2), ("stock", 1)):
        sequential, burst = results[name]["sequential"], results[name]["burst"]
        assert (sequential["count"], sequential["failures"]) == (1, []), name
        assert (burst["count"], burst["failures"]) == (3 * rounds, []), name
        assert 0 < sequential["p50"] < 120 and burst["p95"] <= max(burst["makespans"] or [burst["makespan"]]), name
    for name in ("appliance", "without broker"):
        makespans = results[name]["burst"]["makespans"]
        assert len(makespans) == 2 and results[name]["burst"]["makespan"] == sum(makespans) / 2, name
    assert all(value and value > 0 for value in results["ratios"].values()), results["ratios"]
    appliance = results["appliance"]
    assert list(appliance["breakdown"]) == [step for step, _ in STEPS]
    assert all(seconds >= 0 for seconds in appliance["breakdown"].values())
    assert appliance["login_to_lab_seconds"] > 0
    idle, busy = appliance["rss_mb"].values()
    assert list(appliance["rss_mb"])[1] == "3 servers running"
    assert idle["hub"] > 0 and idle["proxy"] > 0 and idle["supervisord"] > 0
    assert busy["hub + proxy + supervisord"] > 0
    assert idle["broker"] > 0 and busy["broker"] > 0
    cost = results["broker_cost_ms"]
    assert isinstance(cost["sequential p50"], int) and isinstance(cost["burst makespan"], int)
    paired = cost["sequential, paired"]
    assert paired["pairs"] == 1 and paired["95% interval"] == [paired["median"]] * 2
    bare = results["floor without collaboration"]["sequential"]
    assert (bare["count"], bare["failures"]) == (1, []) and bare["cpu_p50"] > 0
    collaboration = results["collaboration_cost"]
    assert isinstance(collaboration["sequential p50 ms"], int) and isinstance(collaboration["cpu-seconds p50"], float)
    assert "| appliance |" in (tmp_path / "latest.md").read_text()
    assert "Real-time collaboration's cost" in (tmp_path / "latest.md").read_text()
    quotas = results["quotas"]
    assert (quotas["with"]["count"], quotas["with"]["failures"]) == (1, []), quotas
    assert (quotas["without"]["count"], quotas["without"]["failures"]) == (1, []), quotas
    assert results["ratios"]["appliance with quotas/floor sequential p50"] > 0
    assert "Disk quotas (USER_STORAGE_DIR on btrfs)" in (tmp_path / "latest.md").read_text()
    assert (
        docker_client.containers.list(all=True, filters={"label": f"jupyterhub-appliance.bench={results['run']}"}) == []
    )
