"""Values as they may appear in messages and logs: never a password inside a URL or an option."""

import re

# The password of a URL (scheme://user:PASSWORD@host), and the value of a key=value option whose key names
# a credential (password=, secret=, token=, … as in a CIFS or NFS volume's `o=` options).
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s]*(@)", re.IGNORECASE)
CREDENTIAL_OPTION = re.compile(r"\b([\w.-]*(?:pass|secret|token|credential|key)[\w.-]*=)[^,\s]*", re.IGNORECASE)
REDACTED = "<redacted>"


def without_credentials(text: str) -> str:
    return CREDENTIAL_OPTION.sub(rf"\g<1>{REDACTED}", URL_PASSWORD.sub(rf"\g<1>{REDACTED}\g<2>", text))
