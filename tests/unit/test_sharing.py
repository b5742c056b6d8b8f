"""Teaching assistants (ASSISTANT_GROUPS) as JupyterHub roles, checked against JupyterHub's own scope rules."""

import pytest
from jupyterhub.scopes import _check_scopes_exist
from traitlets.config import Config

from appliance.hub_config import apply
from appliance.settings import SettingsError, load
from appliance.sharing import assistant_roles

SECRETS = {
    "JPY_COOKIE_SECRET": "ab" * 32,
    "CONFIGPROXY_AUTH_TOKEN": "p" * 64,
    "JUPYTERHUB_CRYPT_KEY": "cd" * 32,
    "ADMIN_PASSWORD": "x" * 32,
}


def test_each_pair_is_a_role_of_the_helpers_group_reaching_only_the_helped_group():
    roles = assistant_roles(load({**SECRETS, "ASSISTANT_GROUPS": "ta:students, tutors:class-b"}))
    assert [role["groups"] for role in roles] == [["ta"], ["tutors"]]
    assert all(scope.endswith("!group=students") for scope in roles[0]["scopes"])
    assert {"servers!group=class-b", "access:servers!group=class-b", "list:users!group=class-b"} <= set(
        roles[1]["scopes"]
    )
    assert not any(
        scope.startswith(("admin", "groups", "users!", "admin-ui")) for role in roles for scope in role["scopes"]
    )


def test_the_scopes_are_jupyterhubs():
    for role in assistant_roles(load({**SECRETS, "ASSISTANT_GROUPS": "ta:students"})):
        _check_scopes_exist(role["scopes"], who_for=role["name"])


def test_the_roles_are_loaded_with_the_services_ones():
    c = Config()
    apply(load({**SECRETS, "ASSISTANT_GROUPS": "ta:students"}), c)
    assert "assistants-1" in [role["name"] for role in c.JupyterHub.load_roles]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("ta", "comma-separated HELPERS:HELPED group pairs"),
        ("ta:students:x", "comma-separated HELPERS:HELPED group pairs"),
        ("ta:stu dents", "comma-separated HELPERS:HELPED group pairs"),
        ("students:students", "makes a group its own assistants"),
    ],
)
def test_bad_pairs_are_refused_saying_why(raw, message):
    with pytest.raises(SettingsError, match=message):
        load({**SECRETS, "ASSISTANT_GROUPS": raw})
