"""Who works with whom: users sharing their servers (SHARING), editing together (COLLABORATION), teaching
assistants (ASSISTANT_GROUPS).

Sharing is JupyterHub's own (share codes and direct shares, the `shares` scope); the appliance grants users the
scope and, under SHARING=group, allows a share only between users who have a group in common. The rule itself is
here; appliance.share_checks applies it in the hub's handlers.

Teaching assistants are JupyterHub roles held by groups. A pair HELPERS:HELPED gives every member of HELPERS a
role whose scopes are filtered to the members of HELPED (JupyterHub's `!group=` filter): list them, see their
servers, start, stop and open those servers; nothing else (no admin page, no other users, no groups). The role is
the HELPERS group's, and scopes are resolved at each request, so a change of either group's members (admin page,
API, OIDC or LDAP groups) counts at once.
"""

from datetime import UTC, datetime

from appliance.declarations import Problem, Settings

# Group names JupyterHub's scope filters take as they are: no `!`, `=`, `:` or `,`, no spaces.
GROUP_NAME = r"[\w.@-]+"
ASSISTANT_PAIR = rf"{GROUP_NAME}:{GROUP_NAME}"


SHARING_MODES = ("off", "group", "all")
# How long a user server trusts the hub's word about a visitor; revoking a share ends the visitor's access within it.
AUTH_CACHE_SECONDS = 15


def sharing_scopes(settings: Settings) -> list[str]:
    """What users may do beyond JupyterHub's `self` (which already lets them see and revoke the shares of their
    servers, and leave shares made with them): share their own servers. (Naming the recipient needs no scope to
    read names: appliance.share_checks lets a name through once the rule allows it.)"""
    if settings["SHARING"] == "off":
        return []
    return ["shares!user"]


def server_environment(settings: Settings) -> dict[str, str]:
    """What the appliance's user image reads at start (singleuser/jupyter_server_config.py): how long the server
    trusts the hub's word about a visitor, so that a revoked share (or an assistant leaving a group) ends within
    it; and COLLABORATION, as jupyter-collaboration's own switch, which JupyterLab's side follows too."""
    return {
        "APPLIANCE_AUTH_CACHE_SECONDS": str(AUTH_CACHE_SECONDS),
        "APPLIANCE_COLLABORATION": settings["COLLABORATION"],
    }


def share_refusal(mode: str, owner_groups: set[str], recipient_groups: set[str]) -> str | None:
    """Why a share of an owner's server with a recipient (a user, or a group: its one name) is refused; None
    when it is allowed."""
    if mode == "off":
        return "Sharing is off on this hub (SHARING=off)."
    if mode == "group" and not owner_groups & recipient_groups:
        return ("The server's owner and the person it would be shared with have no group in common; on this hub "
                "servers are shared only within a group (SHARING=group).")  # fmt: skip
    return None


def shares_on_home_page(user) -> dict[str, list[dict]]:
    """For the hub's home page (a template variable JupyterHub calls with the page's user, None when logged out):
    the servers shared with the user, the shares of the user's servers, and their share codes still valid."""
    if user is None:
        return {"with_me": [], "mine": [], "codes": []}
    orm_user = user.orm_user
    now = datetime.now(UTC).replace(tzinfo=None)  # JupyterHub's times are naive UTC
    return {
        "with_me": sorted(
            ({"owner": share.owner.name, "server": share.spawner.name, "via": share.group.name if share.group else ""}
             for share in orm_user.all_shared_with_me),
            key=lambda share: (share["owner"], share["server"]),
        ),
        "mine": sorted(
            ({"server": share.spawner.name, "kind": "group" if share.group else "user",
              "name": (share.group or share.user).name}
             for share in orm_user.shares),
            key=lambda share: (share["server"], share["kind"], share["name"]),
        ),
        "codes": [
            {"server": code.spawner.name, "id": f"sc_{code.id}", "used": code.exchange_count,
             "expires": code.expires_at.strftime("%Y-%m-%d %H:%M UTC") if code.expires_at else "never"}
            for code in orm_user.share_codes
            if code.expires_at is None or code.expires_at > now
        ],
    }  # fmt: skip


def assistant_pairs(settings: Settings) -> list[tuple[str, str]]:
    pairs = [pair.split(":", 1) for pair in settings["ASSISTANT_GROUPS"] or ()]
    return [(helpers, helped) for helpers, helped in pairs]


def assistant_scopes(helped: str) -> list[str]:
    """A helper's reach over the members of `helped`: their names and servers, starting, stopping and opening
    those servers."""
    only = f"!group={helped}"
    return [f"list:users{only}", f"read:users:name{only}", f"read:users:activity{only}", f"servers{only}",
            f"access:servers{only}"]  # fmt: skip


def assistant_roles(settings: Settings) -> list[dict]:
    return [
        {
            "name": f"assistants-{index}",
            "description": f"Members of {helpers} help members of {helped} (ASSISTANT_GROUPS)",
            "scopes": assistant_scopes(helped),
            "groups": [helpers],
        }
        for index, (helpers, helped) in enumerate(assistant_pairs(settings), start=1)
    ]


def assistant_problems(values: Settings) -> list[Problem]:
    shown = ",".join(values["ASSISTANT_GROUPS"] or ())
    return [
        Problem("ASSISTANT_GROUPS", shown, f"{helpers}:{helped} makes a group its own assistants, so that each of "
                "its members could open every other member's server", "name two different groups, e.g. ta:students")
        for helpers, helped in assistant_pairs(values)
        if helpers == helped
    ]  # fmt: skip
