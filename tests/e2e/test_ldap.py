"""LDAP login against OpenLDAP over StartTLS: group DNs admit and make admins, a user's DN from a template or
looked up with the hub's own bind, and a directory that is down shown as such while the hub stays up."""

import pytest
import requests

from harness.compose import RUN_ID, TEST_RUN_LABEL, doctor, free_port, record_spawn
from tests.certificates import CertificateAuthority
from tests.e2e.ldap_server import PEOPLE, SUFFIX, LdapServer, build_image, group_dn

PASSWORDS = {"ada": "ada-directory-password", "kim": "kim-directory-password", "mal": "mal-directory-password"}
HUB_ACCOUNT = ("hub", "hub-search-password")


@pytest.fixture(scope="module")
def directory(stack_factory, docker_client, tmp_path_factory):
    """Stopped before the stack goes, which depends on it."""
    build_image(docker_client)
    server = LdapServer(f"ldap-{RUN_ID}", free_port(), tmp_path_factory.mktemp("ldap"), {TEST_RUN_LABEL: RUN_ID})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(stack_factory, directory):
    stack = stack_factory(
        {
            "AUTH_MODE": "ldap",
            "LDAP_URL": directory.url,
            "CERTS_DIR": str(directory.folder),
            "LDAP_CA_CERT": "/etc/appliance/certs/ca.pem",
            "LDAP_BIND_DN_TEMPLATE": f"uid={{username}},{PEOPLE}",
            "LDAP_ALLOWED_GROUPS": group_dn("students"),
            "LDAP_ADMIN_GROUPS": group_dn("staff"),
        }
    )
    directory.start(stack.network)
    directory.seed(PASSWORDS, {"students": ["ada"], "staff": ["kim"], "visitors": ["mal"]}, HUB_ACCOUNT)
    return stack


def test_a_group_member_logs_in_over_starttls_and_runs_code(stack):
    ada = stack.client_for().login("ada", PASSWORDS["ada"])
    record_spawn(ada.ensure_running())
    assert ada.run_once("print('ada', 'was here')") == "ada was here"


def test_an_admin_group_member_is_an_admin_and_groups_reach_the_hub(stack):
    kim = stack.client_for().login("kim", PASSWORDS["kim"])
    assert kim.session.get(f"{stack.url}/hub/admin", timeout=30).status_code == 200
    ada = stack.client_for().login("ada", PASSWORDS["ada"])
    assert ada.session.get(f"{stack.url}/hub/admin", timeout=30).status_code == 403
    groups = {group["name"]: group["users"] for group in kim.api("GET", "/groups").json()}
    assert groups["students"] == ["ada"] and groups["staff"] == ["kim"]


def test_outside_the_groups_a_wrong_password_or_an_unknown_user_is_refused(stack):
    for name, password in (("mal", PASSWORDS["mal"]), ("ada", "not-adas-password"), ("nobody", "whatever-it-is")):
        assert stack.client_for().login_response(name, password).status_code == 403, name


def test_a_users_dn_is_looked_up_with_the_hubs_own_bind(stack):
    stack.change_env(
        LDAP_BIND_DN_TEMPLATE="",
        LDAP_SEARCH_BASE=PEOPLE,
        LDAP_BIND_USER=f"cn={HUB_ACCOUNT[0]},{SUFFIX}",
        LDAP_BIND_PASSWORD=HUB_ACCOUNT[1],
    )
    stack.run_compose("up", "-d", "hub")
    stack.wait_healthy()
    assert stack.client_for().login("ada", PASSWORDS["ada"]).whoami() == "ada"
    assert stack.client_for().login_response("mal", PASSWORDS["mal"]).status_code == 403
    assert HUB_ACCOUNT[1] not in stack.logs()


def test_a_directory_certificate_that_ca_did_not_sign_is_refused(stack, directory):
    CertificateAuthority.create("someone else's CA").write(directory.folder / "other-ca.pem")
    stack.change_env(LDAP_CA_CERT="/etc/appliance/certs/other-ca.pem")
    stack.run_compose("up", "-d", "hub")
    stack.wait_healthy()
    refused = stack.client_for().login_response("ada", PASSWORDS["ada"])
    assert refused.status_code == 503, "StartTLS verified the directory's certificate against LDAP_CA_CERT"
    assert "certificate verify failed" in stack.logs()

    _, rows, report = doctor(stack)
    assert rows["auth"] == "FAIL" and "certificate verify failed" in report, report

    stack.change_env(LDAP_CA_CERT="/etc/appliance/certs/ca.pem")
    stack.run_compose("up", "-d", "hub")
    stack.wait_healthy()
    assert stack.client_for().login("ada", PASSWORDS["ada"]).whoami() == "ada"
    _code, rows, report = doctor(stack)
    assert rows["auth"] == "PASS" and "reached over verified TLS" in report, report


def test_a_directory_that_is_down_is_named_and_the_hub_stays_up(stack, directory):
    directory.container.get_wrapped_container().stop(timeout=5)
    refused = stack.client_for().login_response("ada", PASSWORDS["ada"])
    assert refused.status_code == 503
    assert "cannot reach its directory" in refused.text
    assert "cannot be used: LDAPSocketOpenError" in stack.logs().split("certificate verify failed")[-1]
    assert requests.get(f"{stack.url}/hub/health", timeout=10).status_code == 200
