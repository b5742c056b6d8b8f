"""Login modes, one module each: its settings, their problems, and its configure, start and doctor steps
(an `appliance.declarations.Mode`). The authenticator classes they configure live in `appliance.auth`, so that
reading the settings never imports JupyterHub.

Adding a mode: a module here declaring MODE, and one entry below.
"""

from appliance.login import github, ldap, lti13, native, oidc, password

LOGIN_MODES = {mode.name: mode for mode in (password.MODE, native.MODE, github.MODE, oidc.MODE, ldap.MODE, lti13.MODE)}
