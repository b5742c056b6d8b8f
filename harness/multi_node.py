"""A Swarm of Docker-in-Docker nodes for the multi-node tests: a manager and two workers on a network the test
creates, each running its own dockerd (Debian's docker.io), the appliance's images loaded into each, one shared
folder mounted at the same path on every node, and all of it removed afterwards, even when a test fails.

These machines cannot give a container every capability (`--privileged` fails), so each node gets the few that
dockerd needs. Their kernel has no NFS client, so the shared folder is a volume of the outer engine that every
node mounts: what an NFS export in each node's /etc/fstab gives real machines. The run's registry can be
lent to the nodes, on their network, as a registry of images their engines pull.
"""

import io
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker

from harness.compose import BASE_IMAGE, E2E_PREFIX, ROOT, RUN_ID, TEST_RUN_LABEL, env_lines, server_name
from harness.hub_client import HubClient, swarm_hub_answers, wait_until

NODE_IMAGE = "jupyterhub-appliance/e2e-swarm-node:latest"
NODE_DOCKERFILE = f"""FROM {BASE_IMAGE}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io iproute2 iptables \\
 && rm -rf /var/lib/apt/lists/*
# On the test's own network only: the test drives each node's engine over it.
ENTRYPOINT ["dockerd", "--host=unix:///var/run/docker.sock", "--host=tcp://0.0.0.0:2375", "--tls=false"]
"""
ENGINE_PORT = 2375
# The run's registry, where one is lent to the nodes: on their network under this name, over plain HTTP.
NODES_REGISTRY = "registry:5000"
HOMES = "/srv/homes"
# As `docker run` options: docker-py cannot send systempaths=unconfined (empty masked and read-only paths).
NODE_RUN_OPTIONS = [
    *("--cap-add=SYS_ADMIN", "--cap-add=NET_ADMIN", "--cap-add=MKNOD", "--cap-add=SYS_PTRACE"),
    *("--security-opt=seccomp=unconfined", "--security-opt=apparmor=unconfined"),
    *("--security-opt=systempaths=unconfined", "--cgroupns=host", "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw"),
    # The node's own images and containers, off the outer overlayfs (overlay2 cannot nest on it).
    "--volume=/var/lib/docker",
]


class Node:
    def __init__(self, container, address: str):
        self.container, self.address = container, address
        self.name = container.name
        self.docker_host = f"tcp://{address}:{ENGINE_PORT}"
        self.engine = docker.DockerClient(base_url=self.docker_host, version="1.41", timeout=60)

    def kill(self) -> None:
        """As a machine that loses power: dockerd and everything it runs end at once, nothing tells the swarm."""
        self.container.kill()

    def answers(self) -> bool:
        try:
            return self.engine.ping()
        except (docker.errors.DockerException, OSError):
            return False

    def write_file(self, path: str, text: str) -> None:
        """A file on the node itself, for a bind mount of a service there."""
        command = ["docker", "exec", "-i", self.name, "sh", "-c", 'mkdir -p "$(dirname "$0")" && cat > "$0"', path]
        subprocess.run(command, input=text, text=True, check=True)

    def load(self, image: str) -> None:
        """The outer engine's image, saved and loaded into this node (no registry to pull from)."""
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        loaded = subprocess.run(
            ["docker", "exec", "-i", self.name, "docker", "load", "-q"],
            stdin=save.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        if save.stdout is not None:
            save.stdout.close()
        assert save.wait() == 0 and loaded.returncode == 0, f"loading {image} into {self.name}: {loaded.stderr}"

    def node_id(self) -> str:
        return self.engine.info()["Swarm"]["NodeID"]


class SwarmNodes:
    """The manager and workers, created by `up()` and removed, with their engines' state, by `down()`."""

    def __init__(self, client, workers: int = 2, registry=None):
        """`registry`: a registry container of the outer engine that the nodes reach at NODES_REGISTRY."""
        self.client, self.registry = client, registry
        self.prefix = f"{E2E_PREFIX}{RUN_ID}-node"
        self.names = [f"{self.prefix}-manager", *(f"{self.prefix}-worker{i}" for i in range(1, workers + 1))]
        self.labels = {TEST_RUN_LABEL: RUN_ID}
        self.nodes: list[Node] = []
        self.network: Any = None  # made by up()
        self.homes: Any = None

    @property
    def manager(self) -> Node:
        return self.nodes[0]

    @property
    def workers(self) -> list[Node]:
        return self.nodes[1:]

    def up(self, images: dict[str, list[str]]) -> "SwarmNodes":
        """Start the nodes, load each its images (node name suffix: images), and join them into one swarm."""
        self.client.images.build(fileobj=io.BytesIO(NODE_DOCKERFILE.encode()), tag=NODE_IMAGE, rm=True)
        self.network = self.client.networks.create(f"{self.prefix}s", labels=self.labels)
        self.homes = self.client.volumes.create(f"{self.prefix}-homes", labels=self.labels)
        self.lend_registry()
        for name in self.names:
            labels = [f"--label={key}={value}" for key, value in self.labels.items()]
            started = subprocess.run(
                [
                    "docker",
                    "run",
                    "--detach",
                    f"--name={name}",
                    f"--hostname={name.removeprefix(self.prefix + '-')}",
                    f"--network={self.network.name}",
                    f"--volume={self.homes.name}:{HOMES}",
                    *labels,
                    *NODE_RUN_OPTIONS,
                    NODE_IMAGE,
                    f"--insecure-registry={NODES_REGISTRY}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            assert started.returncode == 0, f"starting the node {name}: {started.stderr}"
            container = self.client.containers.get(name)
            self.nodes.append(
                Node(container, container.attrs["NetworkSettings"]["Networks"][self.network.name]["IPAddress"])
            )
        for node in self.nodes:
            wait_until(node.answers, f"the engine of {node.name} to answer", seconds=60)
        with ThreadPoolExecutor() as pool:
            loads = [
                pool.submit(node.load, image)
                for node in self.nodes
                for image in images.get(node.name.removeprefix(f"{self.prefix}-"), [])
            ]
            for load in loads:
                load.result()
        self.join()
        return self

    def lend_registry(self) -> None:
        if self.registry is not None:
            self.network.connect(self.registry, aliases=[NODES_REGISTRY.split(":")[0]])

    def take_back_registry(self) -> None:
        """The nodes can no longer reach the registry (it stays up for the rest of the run)."""
        if self.registry is None or self.network is None:
            return
        self.registry.reload()
        if self.network.name in self.registry.attrs["NetworkSettings"]["Networks"]:
            self.network.disconnect(self.registry)

    def join(self) -> None:
        self.manager.engine.swarm.init(advertise_addr=self.manager.address, listen_addr="0.0.0.0:2377")
        token = self.manager.engine.swarm.attrs["JoinTokens"]["Worker"]
        for worker in self.workers:
            worker.engine.swarm.join([f"{self.manager.address}:2377"], token, advertise_addr=worker.address)
        wait_until(lambda: len(self.ready_nodes()) == len(self.nodes), "every node to be ready in the swarm", 60)

    def ready_nodes(self) -> list:
        return [node for node in self.manager.engine.nodes.list() if node.attrs["Status"]["State"] == "ready"]

    def swarm_node(self, node: Node):
        return self.manager.engine.nodes.get(node.node_id())

    def set_availability(self, node: Node, availability: str) -> None:
        swarm_node = self.swarm_node(node)
        swarm_node.update({**swarm_node.attrs["Spec"], "Availability": availability})

    def label(self, node: Node, **labels: str) -> None:
        swarm_node = self.swarm_node(node)
        spec = swarm_node.attrs["Spec"]
        swarm_node.update({**spec, "Labels": {**spec.get("Labels", {}), **labels}})

    def with_hostname(self, hostname: str) -> Node:
        [node] = [node for node in self.nodes if node.name == f"{self.prefix}-{hostname}"]
        return node

    def hostname_of(self, node_id: str) -> str:
        return self.manager.engine.nodes.get(node_id).attrs["Description"]["Hostname"]

    def down(self) -> None:
        """Remove every node with its engine's volume, then the network and the shared folder."""
        self.take_back_registry()
        for container in self.client.containers.list(all=True, filters={"label": f"{TEST_RUN_LABEL}={RUN_ID}"}):
            if container.name in self.names:
                container.remove(force=True, v=True)
        for thing in (self.network, self.homes):
            if thing is not None:
                wait_until(lambda thing=thing: removed(thing), f"{thing.name} to be removable", seconds=30)


def removed(thing) -> bool:
    """Remove a network or volume; False while the engine still counts a container that just went as its user."""
    try:
        thing.remove()
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError:
        return False
    return True


class MultiNodeHub:
    """The appliance deployed from this host onto the manager of SwarmNodes (`docker stack deploy` with
    compose/swarm.yml and compose/swarm-homes.yml), its users' servers on the workers."""

    STACK = "jupyterhub"
    PORT = 8000
    PROFILES_DIR = "/srv/e2e-profiles"

    def __init__(self, nodes: SwarmNodes, tmp_dir: Path, settings: dict[str, str], profiles: str):
        self.nodes = nodes
        self.url = f"http://{nodes.manager.address}:{self.PORT}"
        env_file = tmp_dir / "hub.env"
        env_file.write_text(env_lines({"USER_NETWORK_ISOLATION": "off", **settings}))
        nodes.manager.write_file(f"{self.PROFILES_DIR}/profiles.yml", profiles)
        self.env = {
            **os.environ,
            "DOCKER_HOST": nodes.manager.docker_host,
            "APPLIANCE_ENV_FILE": str(env_file),
            "PROFILES_DIR": self.PROFILES_DIR,
            "SWARM_HOMES": HOMES,
            # This kernel has no ESP (CONFIG_INET_ESP), so IPsec between nodes cannot carry traffic here.
            "SWARM_OVERLAY": "plain",
        }

    def deploy(self) -> "MultiNodeHub":
        deploy = ["docker", "stack", "deploy", "-c", "compose/swarm.yml", "-c", "compose/swarm-homes.yml", self.STACK]
        result = subprocess.run(deploy, cwd=ROOT, env=self.env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        wait_until(lambda: swarm_hub_answers(self.url), "the hub on the manager to answer", seconds=180)
        return self

    def client_for(self) -> HubClient:
        return HubClient(self.url)

    def user_servers(self, username: str | None = None) -> list:
        name = {"name": self.server_name(username)} if username else {"label": "jupyterhub-appliance.user"}
        return self.nodes.manager.engine.services.list(filters=name)

    def server_name(self, username: str, server: str = "") -> str:
        """compose/swarm.yml's APPLIANCE_INSTANCE is the stack's name."""
        return server_name(self.STACK, username, server)

    def logs(self) -> str:
        """The hub task's container log, on the manager (`docker service logs` waits for nodes that are down)."""
        label = f"com.docker.swarm.service.name={self.STACK}_hub"
        containers = self.nodes.manager.engine.containers.list(all=True, filters={"label": label})
        return "".join(container.logs().decode(errors="replace") for container in containers)

    def down(self) -> None:
        """The users' services and the stack; the rest lives inside the nodes, which SwarmNodes.down removes."""
        for service in self.user_servers():
            service.remove()
        remove = ["docker", "stack", "rm", self.STACK]
        subprocess.run(remove, cwd=ROOT, env=self.env, capture_output=True, text=True, check=False)
