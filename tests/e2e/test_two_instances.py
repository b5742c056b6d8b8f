"""Two appliances on one host (a course and a lab), from one clone, with the same user names: each new install
names its containers and volumes with its instance, so both alices run at once and neither sees the other's files.
A volume labelled for the other appliance is never mounted, even when an admin's USER_VOLUME names it."""

from harness.compose import record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD

ENV = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD, "ALLOWED_USERS": "alice"}


def test_two_appliances_run_the_same_user_side_by_side_and_never_share_her_files(stack_factory):
    course = stack_factory(ENV)
    lab = stack_factory.beside(ENV)
    course_alice = course.client_for().login("alice", USER_PASSWORD)
    lab_alice = lab.client_for().login("alice", USER_PASSWORD)
    record_spawn(course_alice.ensure_running())
    record_spawn(lab_alice.ensure_running())

    course_alice.put_file("notes.txt", "the course's alice\n")
    lab_alice.put_file("lab-notes.txt", "the lab's alice\n")
    assert course_alice.read_file("notes.txt") == "the course's alice\n"
    assert lab_alice.server_api("GET", "/contents/notes.txt").status_code == 404
    assert course_alice.server_api("GET", "/contents/lab-notes.txt").status_code == 404
    for stack in (course, lab):
        [running] = stack.user_containers("alice")
        assert running.status == "running" and running.name == stack.server_name("alice")
        assert [volume.name for volume in stack.user_volumes()] == [stack.volume_name("alice")]
    assert "CONTAINER_NAMES=legacy" not in course.logs(), "a new install is not told it keeps old names"


def test_a_volume_of_the_other_appliance_is_refused_with_both_names(stack_factory):
    course = stack_factory(ENV)
    course_alice = course.client_for().login("alice", USER_PASSWORD)
    record_spawn(course_alice.ensure_running())
    course_alice.put_file("notes.txt", "the course's alice\n")
    course_alice.stop_server()
    # The lab's admin copies the course's volume names into the lab's settings.
    lab = stack_factory.beside({**ENV, "USER_VOLUME": f"{course.project}-user-{{username}}"})
    lab_alice = lab.client_for().login("alice", USER_PASSWORD)

    refused = lab_alice.failed_start()
    assert f"The volume {course.volume_name('alice')} belongs to the appliance" in refused, refused
    assert f"'{course.project}', not to this one ('{lab.project}')" in refused
    assert lab.user_containers("alice") == []
    record_spawn(course_alice.ensure_running())
    assert course_alice.read_file("notes.txt") == "the course's alice\n"
