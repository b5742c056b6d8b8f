"""SHARING's rule, checked in the hub where a share is made or a share code is redeemed.

JupyterHub has no hook for who may share with whom: any holder of a code may redeem it. So the three handlers that
make a share (a direct share, a new share code, redeeming a code) are replaced by subclasses that first ask
`appliance.sharing.share_refusal`, and refuse with its reason (a JSON error from the API, a page from the hub).
Revoking and listing stay JupyterHub's own. The rule counts between the server's owner and whom it is shared
with, whoever makes the share (an admin too).
"""

from jupyterhub import apihandlers, handlers, orm
from jupyterhub.apihandlers.shares import ServerShareAPIHandler, ServerShareCodeAPIHandler
from jupyterhub.handlers.pages import AcceptShareHandler
from jupyterhub.scopes import needs_scope
from tornado import web
from tornado.log import app_log

from appliance.sharing import share_refusal


def group_names(user: orm.User) -> set[str]:
    return {group.name for group in user.groups}


class SharingRule:
    """The SHARING mode, checked between an owner and a recipient; mixed into the handlers below."""

    sharing_mode = "group"

    def refuse_unless_allowed(self, owner: orm.User, recipient_groups: set[str], whom: str) -> None:
        reason = share_refusal(self.sharing_mode, group_names(owner), recipient_groups)
        if reason is not None:
            app_log.warning("Share of %s's server with %s refused: %s", owner.name, whom, reason)
            raise web.HTTPError(403, reason)


class CheckedShareAPIHandler(SharingRule, ServerShareAPIHandler):
    """A direct share, with a user or a group by name. JupyterHub also asks that the sharer may read that name
    (`read:users:name`); users are not given that scope (it would show them every user's name), so a recipient the
    rule allows counts as readable for this request."""

    named_recipient = ""

    @needs_scope("shares")
    async def post(self, user_name, server_name=None):
        owner = self.find_user(user_name)
        model = self.get_json_body() or {}
        if owner is not None and isinstance(model, dict):
            self.check_recipient(owner.orm_user, model)
        # JupyterHub's own handler checks the scope again, and everything else.
        return await ServerShareAPIHandler.post(self, user_name, server_name)

    def check_recipient(self, owner: orm.User, model: dict) -> None:
        if self.sharing_mode == "off":
            self.refuse_unless_allowed(owner, set(), "anyone")
        if isinstance(model.get("user"), str):
            # A name that is no one's gets the same answer as someone outside the owner's groups.
            recipient = self.find_user(model["user"])
            groups = group_names(recipient.orm_user) if recipient is not None else set()
            self.refuse_unless_allowed(owner, groups, f"user {model['user']}")
            self.named_recipient = f"read:users:name!user={model['user']}"
        elif isinstance(model.get("group"), str):
            self.refuse_unless_allowed(owner, {model["group"]}, f"group {model['group']}")
            self.named_recipient = f"read:groups:name!group={model['group']}"

    def has_scope(self, scope):
        return (self.named_recipient != "" and scope == self.named_recipient) or super().has_scope(scope)


class CheckedShareCodeAPIHandler(SharingRule, ServerShareCodeAPIHandler):
    @needs_scope("shares")
    async def post(self, user_name, server_name=None):
        owner = self.find_user(user_name)
        if owner is not None and self.sharing_mode == "off":
            self.refuse_unless_allowed(owner.orm_user, set(), "a share code")
        return await ServerShareCodeAPIHandler.post(self, user_name, server_name)


class CheckedAcceptShareHandler(SharingRule, AcceptShareHandler):
    """The page that redeems a code says why it is refused, before and when the user accepts."""

    @web.authenticated
    async def get(self):
        self.check_code()
        return await AcceptShareHandler.get(self)

    @web.authenticated
    def post(self):
        self.check_code()
        return AcceptShareHandler.post(self)

    def check_code(self) -> None:
        share_code = orm.ShareCode.find(self.db, code=self.get_argument("code"))
        if share_code is None:
            return  # JupyterHub's own answer: not found or expired
        user = self.current_user.orm_user
        if share_code.owner != user:
            self.refuse_unless_allowed(share_code.owner, group_names(user), f"user {user.name} (by code)")


CHECKED = {
    ServerShareAPIHandler: CheckedShareAPIHandler,
    ServerShareCodeAPIHandler: CheckedShareCodeAPIHandler,
    AcceptShareHandler: CheckedAcceptShareHandler,
}


def install(sharing_mode: str) -> None:
    """Put the checked handlers in place of JupyterHub's, in the lists the hub builds its routes from (it reads
    them after loading its config)."""
    for checked in CHECKED.values():
        checked.sharing_mode = sharing_mode
    for routes in (handlers.default_handlers, apihandlers.default_handlers):
        routes[:] = [(route[0], CHECKED.get(route[1], route[1]), *route[2:]) for route in routes]
    missing = set(CHECKED.values()) - {
        route[1] for route in [*handlers.default_handlers, *apihandlers.default_handlers]
    }
    if missing:
        raise RuntimeError(
            f"JupyterHub's sharing handlers moved; cannot check SHARING with {sorted(map(str, missing))}"
        )
