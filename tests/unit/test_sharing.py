"""Sharing (SHARING: the rule, the scopes, the home page's lists, the revocation at start) and teaching assistants
(ASSISTANT_GROUPS) as JupyterHub roles, checked against JupyterHub's own scope rules and schema."""

from datetime import timedelta
from pathlib import Path

import pytest
from jupyterhub import orm
from jupyterhub.scopes import _check_scopes_exist
from traitlets.config import Config

from appliance import share_checks
from appliance.concerns.sharing import revoke_shares_when_off
from appliance.database import remove_all_shares
from appliance.hub_config import apply
from appliance.settings import SettingsError, load
from appliance.sharing import AUTH_CACHE_SECONDS, assistant_roles, share_refusal, shares_on_home_page

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


# -- SHARING --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "owner_groups", "recipient_groups", "allowed"),
    [
        ("group", {"lab"}, {"lab", "x"}, True),
        ("group", {"lab"}, {"others"}, False),
        ("group", set(), set(), False),
        ("all", {"lab"}, {"others"}, True),
        ("off", {"lab"}, {"lab"}, False),
    ],
)
def test_who_may_share_with_whom(mode, owner_groups, recipient_groups, allowed):
    refusal = share_refusal(mode, owner_groups, recipient_groups)
    assert (refusal is None) is allowed
    if not allowed:
        assert f"SHARING={mode}" in refusal


def test_users_may_share_their_own_servers_unless_sharing_is_off():
    c = Config()
    apply(load(SECRETS), c)
    [users] = [role for role in c.JupyterHub.load_roles if role["name"] == "user"]
    assert users["scopes"] == ["self", "shares!user"], "no scope to read every user's name"
    _check_scopes_exist(users["scopes"], who_for="user")
    assert c.Spawner.environment["APPLIANCE_AUTH_CACHE_SECONDS"] == str(AUTH_CACHE_SECONDS)
    assert "args" not in c.Spawner, "arguments would break images whose command takes none"
    c = Config()
    apply(load({**SECRETS, "SHARING": "off"}), c)
    assert "user" not in [role["name"] for role in c.JupyterHub.load_roles], "JupyterHub's own: self, no shares"


def test_sharing_takes_only_its_three_modes():
    with pytest.raises(SettingsError, match=r"SHARING.*must be one of: off, group, all"):
        load({**SECRETS, "SHARING": "everyone"})


@pytest.fixture
def hub_database(tmp_path):
    """A hub database of JupyterHub's own schema: alice shares her server with bob and the group lab, and made a
    share code; one more code of hers has expired."""
    path = tmp_path / "jupyterhub.sqlite"
    db = orm.new_session_factory(f"sqlite:///{path}")()
    alice, bob = orm.User(name="alice"), orm.User(name="bob")
    lab = orm.Group(name="lab", users=[alice, bob])
    db.add_all([alice, bob, lab])
    db.commit()
    spawner = orm.Spawner(user=alice, name="")
    db.add(spawner)
    db.commit()
    orm.Share.grant(db, spawner, bob)
    orm.Share.grant(db, spawner, lab)
    orm.ShareCode.new(db, spawner, scopes=["access:servers!server=alice/"])
    expired, _ = orm.ShareCode.new(db, spawner, scopes=["access:servers!server=alice/"], expires_in=1)
    expired.expires_at = expired.created_at - timedelta(days=1)
    db.commit()
    yield db, path
    db.close()


def test_the_home_page_lists_shares_with_me_and_mine_and_the_valid_codes(hub_database):
    db, _ = hub_database

    class PageUser:
        def __init__(self, name):
            self.orm_user = orm.User.find(db, name)

    bobs = shares_on_home_page(PageUser("bob"))
    assert bobs["with_me"] == [
        {"owner": "alice", "server": "", "via": ""},
        {"owner": "alice", "server": "", "via": "lab"},
    ]
    assert bobs["mine"] == bobs["codes"] == []
    alices = shares_on_home_page(PageUser("alice"))
    assert alices["mine"] == [
        {"server": "", "kind": "group", "name": "lab"},
        {"server": "", "kind": "user", "name": "bob"},
    ]
    [code] = alices["codes"]
    assert code["used"] == 0 and code["id"].startswith("sc_")
    assert shares_on_home_page(None) == {"with_me": [], "mine": [], "codes": []}


def test_sharing_off_revokes_every_earlier_share_at_start(hub_database):
    db, path = hub_database
    db.close()
    said = []
    revoke_shares_when_off(load({**SECRETS, "SHARING": "off", "DATA_DIR": str(path.parent)}), said.append)
    assert said == ["SHARING=off: revoked 2 share(s) and 2 share code(s) made before."]
    assert remove_all_shares(f"sqlite:///{path}") == {"shares": 0, "share_codes": 0}


def test_other_modes_keep_the_shares(hub_database):
    _, path = hub_database
    said = []
    revoke_shares_when_off(load({**SECRETS, "SHARING": "group", "DATA_DIR": str(path.parent)}), said.append)
    assert said == [] and remove_all_shares(f"sqlite:///{path}") == {"shares": 2, "share_codes": 2}


def test_the_checked_handlers_take_jupyterhubs_place_in_its_routes():
    from jupyterhub import apihandlers, handlers

    share_checks.install("group")
    routes = {route[0]: route[1] for route in [*handlers.default_handlers, *apihandlers.default_handlers]}
    assert routes["/accept-share"] is share_checks.CheckedAcceptShareHandler
    assert routes["/api/shares/([^/]+)/([^/]*)"] is share_checks.CheckedShareAPIHandler
    assert routes["/api/share-codes/([^/]+)/([^/]*)"] is share_checks.CheckedShareCodeAPIHandler


def test_collaboration_is_on_by_default_and_the_servers_environment_says_so():
    on, off = Config(), Config()
    apply(load(SECRETS), on)
    apply(load({**SECRETS, "COLLABORATION": "off"}), off)
    assert on.Spawner.environment["APPLIANCE_COLLABORATION"] == "on"
    assert off.Spawner.environment["APPLIANCE_COLLABORATION"] == "off"
    with pytest.raises(SettingsError, match="COLLABORATION"):
        load({**SECRETS, "COLLABORATION": "yes"})


def test_the_user_images_server_config_reads_the_environment(monkeypatch):
    """singleuser/jupyter_server_config.py, run as Jupyter runs it: with the hub's environment, and without."""
    source = (Path(__file__).resolve().parents[2] / "singleuser" / "jupyter_server_config.py").read_text()
    for environment, expected in (
        ({"APPLIANCE_AUTH_CACHE_SECONDS": "15", "APPLIANCE_COLLABORATION": "off"}, (15, True)),
        ({}, (300, False)),
    ):
        for name in ("APPLIANCE_AUTH_CACHE_SECONDS", "APPLIANCE_COLLABORATION"):
            monkeypatch.delenv(name, raising=False)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        c = Config()
        exec(compile(source, "jupyter_server_config.py", "exec"), {"c": c})
        assert (c.HubOAuth.cache_max_age, c.YDocExtension.disable_rtc) == expected
