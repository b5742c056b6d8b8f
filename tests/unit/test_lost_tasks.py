"""The reconcile service's lost tasks: a server's newest Swarm task, not over, on a node the managers marked down."""

import pytest

from appliance.reconcile import lost_task

DOWN = {"node-b": "worker2"}


def task(task_id: str, node: str, state: str, created: str) -> dict:
    return {"ID": task_id, "NodeID": node, "Status": {"State": state}, "CreatedAt": created}


def test_a_running_task_on_a_down_node_is_lost_with_its_nodes_hostname():
    assert lost_task([task("t1", "node-b", "running", "2026-12-03T08:00:00Z")], DOWN) == ("t1", "worker2")


@pytest.mark.parametrize("state", ["complete", "failed", "shutdown", "rejected", "orphaned"])
def test_a_task_that_ended_before_its_node_went_down_is_not_lost(state):
    assert lost_task([task("t1", "node-b", state, "2026-12-03T08:00:00Z")], DOWN) is None


def test_a_task_on_a_node_that_is_up_or_on_no_node_yet_is_not_lost():
    assert lost_task([task("t1", "node-a", "running", "2026-12-03T08:00:00Z")], DOWN) is None
    assert lost_task([{"ID": "t2", "Status": {"State": "pending"}, "CreatedAt": "2026-12-03T08:00:00Z"}], DOWN) is None
    assert lost_task([], DOWN) is None


def test_only_the_newest_task_counts():
    older_on_the_down_node = task("t1", "node-b", "running", "2026-12-03T08:00:00Z")
    newer_elsewhere = task("t2", "node-a", "running", "2026-12-03T08:05:00Z")
    assert lost_task([older_on_the_down_node, newer_elsewhere], DOWN) is None
    assert lost_task([newer_elsewhere, task("t3", "node-b", "starting", "2026-12-03T08:09:00Z")], DOWN) == (
        "t3",
        "worker2",
    )
