"""`make bench-backup` in small (2 users, 8 MB), so that it cannot rot: every figure is there and sane."""

import json

from bench.backup import main


def test_the_backup_bench_runs_end_to_end_and_reports_every_figure(docker_client, tmp_path):
    assert main(["--users", "2", "--total-mb", "8", "--changed-percent", "10", "--results", str(tmp_path)]) == 0
    [report] = tmp_path.glob("backup-*.json")
    results = json.loads(report.read_text())
    first, second = results["first_backup"], results["second_backup"]
    assert first["users"] == second["users"] == 2
    assert first["mb_in_all"] >= 7.9 and first["repository_mb"] >= 7.9, "random data does not shrink"
    assert 0 < second["repository_mb"] - first["repository_mb"] < 2, "the second backup adds about the change"
    assert results["plain_tar"]["mb"] >= 8 and results["restore_one_user_seconds"] > 0
    assert all(ratio > 0 for ratio in results["ratios"].values())
    assert "| plain tar of the volumes |" in (tmp_path / "latest-backup.md").read_text()
    assert (
        docker_client.containers.list(all=True, filters={"label": f"jupyterhub-appliance.bench={results['run']}"}) == []
    )
