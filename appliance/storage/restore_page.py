"""Users' restore page, /services/backups/ (served by the hub's backups service, behind the hub's login): each user
sees their own snapshots and restores one, whole or a folder, into a new folder of their home; nobody sees or
restores another's. Admins may act for any user (?user=NAME)."""

import html
import logging
import os
from urllib.parse import urlencode

import docker.errors
from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import ioloop, web

from appliance import docker_host
from appliance.declarations import Settings
from appliance.storage import backups
from appliance.storage.backups import BackupError, Snapshot

log = logging.getLogger("appliance.backups")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Backups of {user}'s files</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:.3em .8em;text-align:left}}
.note{{padding:.6em;background:#eef}} .error{{padding:.6em;background:#fee}}</style></head>
<body><h1>Backups of {user}'s files</h1>{message}
<p>Each snapshot holds your home as it was then. A restore puts it (or one folder of it) into a new folder of
your home, <code>restored-DATE</code>; nothing of yours is overwritten.</p>
<table><tr><th>Time (UTC)</th><th>Server</th><th>Snapshot</th><th>Restore</th></tr>{rows}</table>
<p><a href="{hub}">Back to the hub</a></p></body></html>"""
ROW = """<tr><td>{time}</td><td>{server}</td><td><code>{short_id}</code></td><td>
<form method="post" action="{action}">{xsrf}<input type="hidden" name="snapshot" value="{id}">
<input type="hidden" name="user" value="{user}">
<input name="folder" placeholder="a folder, e.g. work/project (empty: all)" size="36">
<button type="submit">Restore</button></form></td></tr>"""


class SnapshotsPage(HubOAuthenticated, web.RequestHandler):
    """A user's snapshots, and their restores; an admin's view of any user with ?user=NAME."""

    def initialize(self, settings: Settings):
        self.appliance = settings

    def whose(self, asked: str | None) -> str:
        """The user whose snapshots this request is about: one's own; any user's for an admin."""
        me = self.current_user
        if asked and asked != me["name"] and not me.get("admin"):
            raise web.HTTPError(403, "only admins see or restore other users' snapshots")
        return asked or me["name"]

    @web.authenticated
    async def get(self):
        await self.show(self.whose(self.get_argument("user", None)))

    @web.authenticated
    async def post(self):
        user = self.whose(self.get_argument("user", None))
        snapshot, folder = self.get_argument("snapshot"), self.get_argument("folder", "")
        try:
            result = await ioloop.IOLoop.current().run_in_executor(None, restore_for, self.appliance, user, snapshot,
                                                                   folder)  # fmt: skip
        except BackupError as error:
            log.warning("Restore for %s (by %s) refused: %s", user, self.current_user["name"], error)
            await self.show(user, error=str(error), status=400)
            return
        except docker.errors.DockerException as error:
            log.error("Restore for %s (by %s) could not run: %s", user, self.current_user["name"], error)
            await self.show(user, error="The restore could not run just now; an admin has been told in the log.",
                            status=503)  # fmt: skip
            return
        log.info("Restored %s's snapshot %s (%s) into %s, for %s", user, snapshot[:8], folder or "whole",
                 result["restored_into"], self.current_user["name"])  # fmt: skip
        await self.show(user, note=f"Restored {result['files']} file(s) into {result['restored_into']} in the home.")

    async def show(self, user: str, note: str = "", error: str = "", status: int = 200):
        try:
            found = await ioloop.IOLoop.current().run_in_executor(None, snapshots_of, self.appliance, user)
        except (BackupError, docker.errors.DockerException) as failure:
            log.error("Listing %s's snapshots failed: %s", user, failure)
            found, error = [], error or "The backups cannot be read just now; an admin has been told in the log."
        message = f'<p class="note">{html.escape(note)}</p>' if note else ""
        message += f'<p class="error">{html.escape(error)}</p>' if error else ""
        self.set_status(status)
        self.finish(PAGE.format(user=html.escape(user), message=message, rows=self.rows(user, found),
                                hub=html.escape(self.hub_auth.hub_prefix)))  # fmt: skip

    def rows(self, user: str, found: list[Snapshot]) -> str:
        action = self.request.path + ("?" + urlencode({"user": user}) if user != self.current_user["name"] else "")
        xsrf = self.xsrf_form_html()
        rows = [ROW.format(time=f"{one.time:%Y-%m-%d %H:%M}", server=html.escape(one.server or "(default)"),
                           short_id=one.short_id, id=one.id, user=html.escape(user), action=html.escape(action),
                           xsrf=xsrf) for one in reversed(found)]  # fmt: skip
        return "".join(rows) or '<tr><td colspan="4">No snapshots yet.</td></tr>'


def snapshots_of(settings: Settings, user: str) -> list[Snapshot]:
    found = backups.snapshots(docker_host.client(), settings, user)
    return [one for one in found if one.kind == "user" and one.user == user]


def restore_for(settings: Settings, user: str, snapshot: str, folder: str) -> dict:
    """Only the user's own snapshot, into a new folder of the volume it came from."""
    engine = docker_host.client(timeout=backups.RUN_SECONDS)
    (chosen,) = backups.chosen_snapshots(backups.snapshots(engine, settings, user), user, snapshot)
    return backups.restore_into(engine, settings, chosen, log.info, folder)


def application(settings: Settings, prefix: str) -> web.Application:
    return web.Application(
        [
            (prefix, SnapshotsPage, {"settings": settings}),
            (f"{prefix}oauth_callback", HubOAuthCallbackHandler),
        ],
        cookie_secret=os.urandom(32),
        xsrf_cookies=True,
    )
