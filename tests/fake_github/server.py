"""A fake GitHub: a real HTTP server speaking the OAuth web flow and the REST endpoints oauthenticator calls.

Run it with `python3 server.py PORT`. Tests configure it over HTTP (POST /_fake/config) with the OAuth
app's credentials and the users, orgs and teams of their story; the hub reaches it as it reaches github.com.
Standard library only, so it runs in any image that has python3.
"""

import base64
import hashlib
import html
import json
import secrets
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

STATE = {"config": {"client_id": "", "client_secret": "", "users": {}}, "codes": {}, "tokens": {}, "calls": []}
LOCK = threading.Lock()


def users() -> dict:
    return STATE["config"]["users"]


def orgs_of(profile: dict) -> set[str]:
    """A user's organizations: those named, and those of their teams."""
    return set(profile.get("orgs", [])) | {team.split(":", 1)[0] for team in profile.get("teams", [])}


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


class FakeGitHub(BaseHTTPRequestHandler):
    server_version = "FakeGitHub/1.0"

    # -- plumbing ------------------------------------------------------------------------------
    def reply(self, status: int, body=None, content_type="application/json", headers=None):
        if body is None:
            data = b""
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(raw or "{}")
        return {key: values[0] for key, values in parse_qs(raw).items()}

    def token_user(self) -> tuple[str, dict] | None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        grant = STATE["tokens"].get(token) if scheme.lower() in ("token", "bearer") else None
        return (grant["login"], grant) if grant else None

    def record(self):
        with LOCK:
            STATE["calls"].append(f"{self.command} {urlsplit(self.path).path}")

    # -- routing -------------------------------------------------------------------------------
    def do_GET(self):
        self.record()
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        if url.path == "/login/oauth/authorize":
            return self.authorize_page(query)
        if url.path == "/_fake/state":
            return self.reply(200, {"tokens": STATE["tokens"], "calls": STATE["calls"]})
        if parts[:2] == ["api", "v3"]:
            return self.api(parts[2:], query)
        return self.reply(404, {"message": "Not Found"})

    def do_POST(self):
        self.record()
        path = urlsplit(self.path).path
        if path == "/login/oauth/authorize":
            return self.approve(self.form())
        if path == "/login/oauth/access_token":
            return self.access_token(self.form())
        if path == "/_fake/config":
            with LOCK:
                STATE.update(config=self.form(), codes={}, tokens={}, calls=[])
            return self.reply(204)
        return self.reply(404, {"message": "Not Found"})

    # -- OAuth web flow ------------------------------------------------------------------------
    def authorize_page(self, query: dict):
        if query.get("client_id") != STATE["config"]["client_id"]:
            return self.reply(404, "<h1>404: this OAuth app does not exist</h1>", "text/html")
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(key)}" value="{html.escape(value)}">'
            for key, value in query.items()
        )
        buttons = "".join(
            f'<button type="submit" name="login" value="{name}">Authorize as {name}</button>'
            for name in map(html.escape, users())
        )
        page = (
            "<!doctype html><title>Authorize application</title><h1>Fake GitHub: authorize the hub</h1>"
            f"<p>Scopes asked for: <code>{html.escape(query.get('scope', ''))}</code></p>"
            f'<form method="post" action="/login/oauth/authorize">{hidden}{buttons}</form>'
        )
        return self.reply(200, page, "text/html")

    def approve(self, form: dict):
        if form.get("login") not in users() or form.get("client_id") != STATE["config"]["client_id"]:
            return self.reply(400, "<h1>unknown user or app</h1>", "text/html")
        code = secrets.token_hex(10)
        with LOCK:
            STATE["codes"][code] = {
                "login": form["login"],
                "redirect_uri": form.get("redirect_uri", ""),
                "challenge": form.get("code_challenge", ""),
                "scope": form.get("scope", ""),
            }
        target = f"{form.get('redirect_uri')}?{urlencode({'code': code, 'state': form.get('state', '')})}"
        return self.reply(302, headers={"Location": target})

    def access_token(self, form: dict):
        config = STATE["config"]
        if (form.get("client_id"), form.get("client_secret")) != (config["client_id"], config["client_secret"]):
            # Like GitHub: an error in a 200 response.
            return self.reply(
                200,
                {
                    "error": "incorrect_client_credentials",
                    "error_description": "The client_id and/or client_secret passed are incorrect.",
                },
            )
        with LOCK:
            grant = STATE["codes"].pop(form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return self.reply(
                200, {"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}
            )
        if grant["challenge"] and pkce_challenge(form.get("code_verifier", "")) != grant["challenge"]:
            return self.reply(
                200, {"error": "invalid_grant", "error_description": "The code_verifier does not match the challenge."}
            )
        token = "gho_" + secrets.token_hex(16)
        with LOCK:
            STATE["tokens"][token] = {"login": grant["login"], "scope": grant["scope"]}
        return self.reply(200, {"access_token": token, "token_type": "bearer", "scope": grant["scope"]})

    # -- REST API ------------------------------------------------------------------------------
    def api(self, parts: list[str], query: dict):
        caller = self.token_user()
        if caller is None:
            return self.reply(401, {"message": "Requires authentication"})
        login, grant = caller
        can_read_org = "read:org" in grant["scope"].replace(",", " ").split()
        profile = users()[login]
        if parts == ["user"]:
            return self.reply(200, {"login": login, "id": profile["id"], "name": login.title(), "email": None})
        if parts == ["user", "teams"]:
            teams = [team.split(":", 1) for team in profile.get("teams", [])] if can_read_org else []
            return self.reply(200, [{"slug": t, "name": t, "organization": {"login": o}} for o, t in teams])
        if len(parts) == 4 and parts[0] == "orgs" and parts[2] == "members":
            org, member = parts[1], parts[3]
            return self.membership(can_read_org and org in orgs_of(users().get(member, {})))
        if len(parts) == 6 and parts[0] == "orgs" and parts[2] == "teams" and parts[4] == "members":
            team, member = f"{parts[1]}:{parts[3]}", parts[5]
            return self.membership(can_read_org and team in users().get(member, {}).get("teams", []))
        return self.reply(404, {"message": "Not Found"})

    def membership(self, is_member: bool):
        # Without read:org, private memberships are invisible, as on GitHub.
        return self.reply(204) if is_member else self.reply(404, {"message": "Not Found"})

    def log_message(self, format, *args):
        sys.stderr.write(f"[fake-github] {format % args}\n")


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), FakeGitHub).serve_forever()
