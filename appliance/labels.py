"""The Docker labels on every container and volume the appliance creates for users.

Kept apart from the spawner so that light processes (the reconcile service) need not import JupyterHub.
"""

LABEL_PREFIX = "jupyterhub-appliance"
LABEL_INSTANCE = f"{LABEL_PREFIX}.instance"
LABEL_USER = f"{LABEL_PREFIX}.user"
LABEL_SERVER = f"{LABEL_PREFIX}.server"
# On the throwaway helper containers of a spawn (version probe, network rules, home creation): whose spawn.
LABEL_HELPER_FOR = f"{LABEL_PREFIX}.helper-for"
# On swarm mode's pull-ahead jobs (appliance.swarm_pulls): the image each one pulls on the nodes.
LABEL_PULL_AHEAD = f"{LABEL_PREFIX}.pull-ahead"
# On a profile's shared volume (course material, a scratch): the instance's, never a user's; never removed.
LABEL_SHARED = f"{LABEL_PREFIX}.shared"
# On the hub's own container (compose files): whose hub it is, so that the Docker broker lets the hub look itself
# up, join networks and turn its restart policy off. Not the instance label: the hub is no user's object.
LABEL_HUB_OF = f"{LABEL_PREFIX}.hub-of"
# On the instance's archive volume (appliance.storage.lifecycle): users' volumes archived there, never a user's.
LABEL_ARCHIVES = f"{LABEL_PREFIX}.archives"
