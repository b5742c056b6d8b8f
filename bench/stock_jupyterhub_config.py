# The stock baseline: jupyterhub-deploy-docker's basic example, as a user would copy it.
# The hub starts its own proxy, with DockerSpawner's default settings for polling and Docker calls.
# Only these differ from the example: DummyAuthenticator instead of NativeAuthenticator (not in the
# image; the bench spawns through the API), a service token for the bench, and a label on spawned
# containers so that the bench can remove them. The bench's token may also reach the servers (access:servers)
# for `make bench-scale`'s proxied requests.
import os

c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.DockerSpawner.image = os.environ["DOCKER_NOTEBOOK_IMAGE"]
network_name = os.environ["DOCKER_NETWORK_NAME"]
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.network_name = network_name
notebook_dir = os.environ.get("DOCKER_NOTEBOOK_DIR", "/home/jovyan/work")
c.DockerSpawner.notebook_dir = notebook_dir
c.DockerSpawner.volumes = {"jupyterhub-user-{username}": notebook_dir}
c.DockerSpawner.remove = True
c.DockerSpawner.debug = True
c.JupyterHub.hub_ip = "jupyterhub"
c.JupyterHub.hub_port = 8080
c.JupyterHub.cookie_secret_file = "/data/jupyterhub_cookie_secret"
c.JupyterHub.db_url = "sqlite:////data/jupyterhub.sqlite"

c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {"admin"}

c.DockerSpawner.extra_create_kwargs = {"labels": {"jupyterhub-appliance.bench": os.environ["BENCH_RUN"]}}
c.JupyterHub.services = [{"name": "bench", "api_token": os.environ["BENCH_TOKEN"]}]
c.JupyterHub.load_roles = [
    {"name": "bench", "scopes": ["admin:users", "admin:servers", "access:servers"], "services": ["bench"]}
]
