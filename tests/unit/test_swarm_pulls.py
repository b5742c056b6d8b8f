"""Swarm mode's pulls on the nodes: what each node's task of the pull job says, and what the hub's log says of it."""

from appliance.swarm_pulls import job_name, outcome, progress, report


def test_a_task_that_ran_the_image_means_its_node_has_it_and_a_rejected_one_says_why_not():
    assert outcome({"State": "complete"}) == ""
    assert outcome({"State": "failed", "Err": "task: non-zero exit (127)"}) == "", "the image ran: it is there"
    assert outcome({"State": "rejected", "Err": "No such image: lab:1"}) == "No such image: lab:1"
    assert outcome({"State": "preparing"}) == "still preparing after 60 minutes", "given up on at the deadline"


def test_progress_names_each_node_and_calls_preparing_pulling():
    states = {"worker2": {"State": "complete"}, "worker1": {"State": "preparing"}}
    assert progress(states) == "worker1 pulling, worker2 done"


def test_the_log_names_the_nodes_that_have_the_image_and_each_failure_with_its_reason():
    lines = []
    report("lab:1", [], {"worker1": "", "worker2": "", "worker3": "No such image: lab:1"}, lines.append)
    assert lines == [
        "Pulled lab:1 on worker1, worker2",
        "Pulling lab:1 on worker3 failed: No such image: lab:1. A server placed there pulls it again at spawn.",
    ]


def test_no_eligible_node_is_said_with_the_constraints():
    lines = []
    report("lab:1", ["node.labels.gpu==true"], {}, lines.append)
    assert lines == [
        "Pulling lab:1 on the nodes: no node is eligible under node.labels.gpu==true; "
        "a node pulls it when a server is placed there"
    ]


def test_each_image_has_its_own_valid_service_name():
    name = job_name("jupyterhub", "ghcr.io/org/lab:1")
    assert name != job_name("jupyterhub", "ghcr.io/org/lab:2")
    assert name.startswith("jupyterhub-pull-ahead-") and len(name) <= 63 and name.replace("-", "").isalnum()
