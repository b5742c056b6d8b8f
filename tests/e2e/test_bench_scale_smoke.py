"""`make bench-scale` in small (3 servers per hub), so that it cannot rot: every figure is there and sane."""

import json

from bench.scale import EXTENSIONS, main


def test_the_scale_bench_runs_end_to_end_and_reports_every_figure(docker_client, tmp_path):
    arguments = ["--checkpoints", "2,3", "--wave", "2", "--requests", "3", "--results", str(tmp_path)]
    assert main(arguments) == 0

    [report] = tmp_path.glob("scale-*.json")
    results = json.loads(report.read_text())
    for hub in ("appliance", "stock"):
        part = results[hub]
        assert [point["servers"] for point in part["checkpoints"]] == [2, 3], hub
        assert (part["largest"], part["start_failures"], part["memory_ran_short"]) == (3, [], False), hub
        for point in part["checkpoints"]:
            assert point["server_working_set_mb"]["count"] == point["servers"], hub
            assert 20 < point["server_working_set_mb"]["p50"] < 400, hub
            assert point["rss_mb"]["hub"] > 0 and point["rss_mb"]["proxy"] > 0, hub
            for figure in ("users_api_ms", "proxied_status_ms"):
                assert point[figure]["errors"] == 0 and point[figure]["count"] == 10 * 3, (hub, figure)
                assert 0 < point[figure]["p50"] <= point[figure]["p95"], (hub, figure)
            assert point["culler_pass_seconds"] > 0, hub
    assert all(point["reconcile_pass_seconds"] > 0 for point in results["appliance"]["checkpoints"])
    assert all(point["reconcile_pass_seconds"] is None for point in results["stock"]["checkpoints"])
    # The appliance keeps its servers across a hub restart; stock JupyterHub stops them as it shuts down
    # (cleanup_servers), as many as `docker restart`'s 10 s allow.
    appliance, stock = results["appliance"]["restart"], results["stock"]["restart"]
    assert appliance["stopped_by_the_hub"] == 0 and 0 < appliance["all_routes_seconds"] < 120
    assert appliance["hub_log_seconds"]["hub API listening"] <= appliance["all_routes_seconds"]
    assert stock["stopped_by_the_hub"] >= 1 and stock["never_answered"] == []
    breakdown = results["memory_breakdown"]
    assert set(breakdown) == {
        "bare jupyter server (no extensions)",
        "jupyter server with the image's extensions",
        *(f"without {name}" for name in EXTENSIONS),
    }
    assert (
        breakdown["bare jupyter server (no extensions)"]["anon"]
        < breakdown["jupyter server with the image's extensions"]["anon"]
    )
    assert results["appliance"]["kernel"]["anon"] > 5
    [plot] = tmp_path.glob("scale-*.png")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| appliance | 3 |" in (tmp_path / "latest-scale.md").read_text()
    assert (
        docker_client.containers.list(all=True, filters={"label": f"jupyterhub-appliance.bench={results['run']}"}) == []
    )
