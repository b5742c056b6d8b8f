"""Who works with whom: teaching assistants (ASSISTANT_GROUPS), as JupyterHub roles held by groups.

A pair HELPERS:HELPED gives every member of HELPERS a role whose scopes are filtered to the members of HELPED
(JupyterHub's `!group=` filter): list them, see their servers, start, stop and open those servers; nothing else
(no admin page, no other users, no groups). The role is the HELPERS group's, and scopes are resolved at each
request, so a change of either group's members (admin page, API, OIDC or LDAP groups) counts at once.
"""

from appliance.declarations import Problem, Settings

# Group names JupyterHub's scope filters take as they are: no `!`, `=`, `:` or `,`, no spaces.
GROUP_NAME = r"[\w.@-]+"
ASSISTANT_PAIR = rf"{GROUP_NAME}:{GROUP_NAME}"


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
