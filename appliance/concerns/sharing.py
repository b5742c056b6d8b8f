"""Sharing at start: with SHARING=off, no share made before (under another setting) keeps granting access."""

from appliance.database import connect_url, remove_all_shares, sqlite_file
from appliance.declarations import Report, Settings


def revoke_shares_when_off(settings: Settings, say: Report) -> None:
    if settings["SHARING"] != "off":
        return
    url = connect_url(settings)
    database = sqlite_file(url)
    if database is not None and not database.exists():
        return
    removed = remove_all_shares(url)
    if any(removed.values()):
        say(f"SHARING=off: revoked {removed.get('shares', 0)} share(s) and {removed.get('share_codes', 0)} share "
            "code(s) made before.")  # fmt: skip
