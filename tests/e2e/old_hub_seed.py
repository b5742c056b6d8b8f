"""Run by an older JupyterHub's Python: write a hub database with that release's own ORM and schema.

Prints JSON with what the upgrade test checks afterwards: the JupyterHub version and alice's API token.
"""

import json
import sys

from jupyterhub import __version__, orm

db = orm.new_session_factory(f"sqlite:///{sys.argv[1]}")()
db.add(orm.OAuthClient(identifier="jupyterhub"))  # the hub's own client, which tokens belong to
alice = orm.User(name="alice")
lab = orm.Group(name="lab")
lab.users.append(alice)
db.add_all([alice, lab])
db.commit()
token = alice.new_api_token(note=f"made by JupyterHub {__version__}")
db.add(orm.Spawner(user=alice, name="project", state={"written_by": __version__}, user_options={"profile": "gpu"}))
db.commit()
print(json.dumps({"jupyterhub": __version__, "alice_token": token}))
