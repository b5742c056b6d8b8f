"""Run by an older JupyterHub's Python: write a hub database with that release's own ORM and schema.

The argument is a sqlite file, or a database URL (postgresql+psycopg://…).

Prints JSON with what the upgrade test checks afterwards: the JupyterHub version and alice's API token.
"""

import json
import sys

from jupyterhub import __version__, orm

target = sys.argv[1]
db = orm.new_session_factory(target if "://" in target else f"sqlite:///{target}")()
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
