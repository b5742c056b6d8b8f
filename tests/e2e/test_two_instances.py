"""Two appliances on one host (a course and a lab), with the same user names: neither takes the other's
containers or files. Both use the default names (jupyter-alice, jupyterhub-user-alice), so the second
one's alice is refused, with a message naming both appliances, rather than handed the first one's."""

from harness.compose import record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD

ENV = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD, "ALLOWED_USERS": "alice"}


def test_a_second_appliance_never_takes_the_first_ones_container_or_volume(stack_factory):
    course = stack_factory(ENV)
    course_alice = course.client_for().login("alice", USER_PASSWORD)
    record_spawn(course_alice.ensure_running())
    course_alice.put_file("notes.txt", "the course's alice\n")
    lab = stack_factory.beside(ENV)
    lab_alice = lab.client_for().login("alice", USER_PASSWORD)

    refused = lab_alice.failed_start()
    assert "Refused to use the container jupyter-alice" in refused, refused
    [running] = course.user_containers("alice")
    assert running.status == "running" and course_alice.read_file("notes.txt") == "the course's alice\n"

    course_alice.stop_server()
    refused = lab_alice.failed_start()
    assert "The volume jupyterhub-user-alice belongs to the appliance" in refused, refused
    assert f"'{course.project}', not to this one ('{lab.project}')" in refused
    assert lab.user_containers("alice") == []
