"""A learning platform speaking LTI 1.3 to the hub (the tool), as Canvas or Moodle do: its own RSA key and
keyset, a course page that starts a launch (in a frame or not), and an OIDC authentication endpoint that answers
with the signed launch, form-posted by the browser to the tool.

A launch is described by the test as JSON (base64url in the `launch` query parameter), which travels as the
opaque `lti_message_hint`: who launches (sub, email, roles), from which course, with which custom parameters,
and what is wrong with it (`fault`). Runs in a container built from the hub image (tornado, PyJWT, cryptography).
"""

import base64
import json
import os
import time
from html import escape

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from tornado import ioloop, web

ISSUER = os.environ["PLATFORM_ISSUER"]
PORT = int(os.environ["PLATFORM_PORT"])
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
# Signs the launches whose fault is "signature": a key the keyset does not hold.
STRANGER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = "platform-key"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#"


def decoded(text: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def auto_post(action: str, fields: dict[str, str]) -> str:
    """A page whose form the browser submits at once, as platforms do."""
    inputs = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items())
    return (
        f'<html><body><form id="launch" method="post" action="{escape(action)}">{inputs}'
        '<button type="submit">Continue</button></form>'
        "<script>document.getElementById('launch').submit()</script></body></html>"
    )


def claims_of(launch: dict, nonce: str, client_id: str) -> dict:
    now = int(time.time())
    claims = {
        "iss": launch.get("iss", ISSUER),
        "aud": launch.get("aud", client_id),
        "sub": launch["sub"],
        "email": launch.get("email", f"{launch['sub']}@school.example"),
        "name": launch.get("name", launch["sub"].title()),
        "iat": now - launch.get("age", 0),
        "exp": now - launch.get("age", 0) + 300,
        "nonce": nonce,
        CLAIM + "version": "1.3.0",
        CLAIM + "message_type": "LtiResourceLinkRequest",
        CLAIM + "deployment_id": launch.get("deployment_id", "deployment-1"),
        CLAIM + "target_link_uri": launch["tool"] + "/hub/",
        CLAIM + "resource_link": {"id": launch.get("resource_link", "assignment-1")},
        CLAIM + "roles": [ROLE + role for role in launch.get("roles", ["Learner"])],
        CLAIM + "context": launch.get("course", {"id": "course-1", "label": "CS101", "title": "Computing 101"}),
        CLAIM + "custom": launch.get("custom", {}),
    }
    for name in launch.get("omit", []):
        claims.pop(name if name in claims else CLAIM + name, None)
    return claims


class Keyset(web.RequestHandler):
    def get(self):
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
        self.write({"keys": [{**public, "kid": KID, "alg": "RS256", "use": "sig"}]})


class CoursePage(web.RequestHandler):
    """The course page: the assignment's launch inside a frame, as an LMS embeds a tool."""

    def get(self):
        launch = self.get_argument("launch")
        self.write(
            f"<html><body><h1>Computing 101</h1>"
            f'<iframe id="tool" src="/launch?launch={escape(launch)}" width="1200" height="800" '
            'allow="clipboard-read; clipboard-write"></iframe></body></html>'
        )


class Launch(web.RequestHandler):
    """Third-party login initiation: the browser posts it to the tool's login initiation URL."""

    def get(self):
        hint = self.get_argument("launch")
        launch = decoded(hint)
        fields = {
            "iss": launch.get("initiation_iss", ISSUER),
            "login_hint": launch["sub"],
            "target_link_uri": launch.get("target_link_uri", launch["tool"] + "/hub/"),
            "client_id": launch["client_id"],
            "lti_message_hint": hint,
            "lti_deployment_id": launch.get("deployment_id", "deployment-1"),
        }
        if launch.get("initiation_without_client"):
            del fields["client_id"]
        self.write(auto_post(launch["tool"] + "/hub/lti13/oauth_login", fields))


class Authorize(web.RequestHandler):
    """The OIDC authentication request of the tool, answered with the signed launch (response_mode=form_post)."""

    def get(self):
        expected = {"response_type": "id_token", "response_mode": "form_post", "scope": "openid", "prompt": "none"}
        wrong = [name for name, value in expected.items() if self.get_argument(name, "") != value]
        if wrong:
            raise web.HTTPError(400, f"wrong authentication request parameters: {wrong}")
        launch = decoded(self.get_argument("lti_message_hint"))
        redirect_uri = self.get_argument("redirect_uri")
        if redirect_uri != launch["tool"] + "/hub/lti13/oauth_callback":
            raise web.HTTPError(400, f"redirect_uri {redirect_uri} is not the registered one")
        claims = claims_of(launch, self.get_argument("nonce"), self.get_argument("client_id"))
        key = STRANGER_KEY if launch.get("fault") == "signature" else KEY
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})
        self.write(auto_post(redirect_uri, {"id_token": token, "state": self.get_argument("state")}))

    post = get


def main() -> None:
    app = web.Application(
        [
            ("/jwks", Keyset),
            ("/course", CoursePage),
            ("/launch", Launch),
            ("/authorize", Authorize),
        ]
    )
    app.listen(PORT, "0.0.0.0")
    print(f"LTI platform {ISSUER} listening on {PORT}", flush=True)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
