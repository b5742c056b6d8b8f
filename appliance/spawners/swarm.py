"""SPAWNER_MODE=swarm: each server is a Swarm service, reached at its running task's address."""

import asyncio
import os
import time
from typing import Any

from docker.types import DriverConfig, Mount
from dockerspawner import SwarmSpawner
from traitlets import Integer, Unicode

from appliance.docker_host import TASK_ENDED
from appliance.profiles import Profile
from appliance.spawners.docker import ApplianceDockerSpawner
from appliance.spawners.errors import NO_ANSWER, SERVER_FAILED, UNAVAILABLE, SpawnError
from appliance.spawners.readiness import LOG_LINES_SHOWN
from appliance.storage import quotas

# The generic resource that NVIDIA's toolkit has dockerd advertise for each GPU (node-generic-resources).
GPU_RESOURCE_KIND = "NVIDIA-GPU"

# Swarm's reason for a task it cannot place (it would wait, pending, for such a node to appear).
NO_NODE = "no suitable node"


class ApplianceSwarmSpawner(ApplianceDockerSpawner, SwarmSpawner):
    """Runs each server as a Swarm service on the overlay network, reached at its running task's address.

    The service name would also resolve, but a hub keeps connecting to an address it resolved
    before; after a service is recreated under the same name that is a dead task's address. The
    task's own address (from the tasks API) is always the live one. Each step of the spawn is
    reported (service created, task scheduled on a node, task running, server answering), and a
    task that Swarm rejects, a missing image on its node say, ends the spawn with Swarm's reason.
    """

    extra_placement_spec: dict[str, Any]  # SwarmSpawner's trait, as this class uses it

    storage_setting = "SWARM_HOMES"

    pids_limit = Integer(0, config=True, help="Most processes a server's task may run (PIDS_LIMIT); 0: no limit.")
    homes_root = Unicode(
        "", config=True, help="The shared folder every node mounts (SWARM_HOMES); user volumes are folders in it."
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.configured_placement = list(self.extra_placement_spec.get("constraints", []))
        self.generic_resources: list[dict] = []

    def apply_devices_and_placement(self, profile: Profile) -> None:
        """The profile's placement constraints after SWARM_PLACEMENT's, and its GPUs as generic resources."""
        self.extra_placement_spec = {
            **self.extra_placement_spec,
            "constraints": [*self.configured_placement, *profile.placement],
        }
        self.generic_resources = gpu_resources(profile.gpus)

    def docker(self, method, *args, **kwargs):
        """As dockerspawner calls Docker, with three additions to a new service: the pids limit and the GPUs in
        its resources (the engine takes both, Resources.Limits.Pids and Reservations.GenericResources, API 1.41,
        but docker-py's Resources has no argument for the pids limit), and no restarts. A task Swarm started
        again (its server exited, its node drained or went down) would run where the hub's route does not
        lead; the hub, not Swarm, starts a server again.
        """
        if method == "create_service":
            kwargs["task_template"]["RestartPolicy"] = {"Condition": "none"}
            resources = kwargs["task_template"].setdefault("Resources", {})
            if self.pids_limit:
                resources.setdefault("Limits", {})["Pids"] = self.pids_limit
            if self.generic_resources:
                resources.setdefault("Reservations", {})["GenericResources"] = self.generic_resources
        return super().docker(method, *args, **kwargs)

    @property
    def mounts(self):
        """Named volumes as volume mounts, labelled like docker mode's; a user's in SWARM_HOMES or VOLUME_DRIVER."""
        shared = self.shared_volumes
        return [
            Mount(
                target=bind["bind"],
                source=source,
                type="volume",
                read_only=bind["mode"] == "ro",
                driver_config=self.mount_driver_config if source in shared else self.user_volume_driver(source),
                labels=self.shared_labels() if source in shared else self.user_labels(),
            )
            for source, bind in self.volume_binds.items()
        ]

    def user_volume_driver(self, volume: str) -> DriverConfig | None:
        """With SWARM_HOMES, the node's local volume binds the user's folder of the shared mount."""
        if self.homes_root:
            return DriverConfig("local", {"type": "none", "o": "bind", "device": self.home_folder(volume)})
        return self.mount_driver_config

    def home_folder(self, volume: str) -> str:
        return os.path.join(self.homes_root, volume)

    async def ensure_home_folders(self) -> None:
        """Create each user volume's folder in SWARM_HOMES (a node binds only a folder that exists); empty, so that
        the engine fills it from the image, with its owner, on first use. With USER_DISK_QUOTA each is a btrfs
        subvolume with its quota, made by the storage helper. Existing files are never touched."""
        if not await asyncio.to_thread(os.path.isdir, self.homes_root):
            raise SpawnError(
                f"SWARM_HOMES={self.homes_root} is not a folder in the hub: deploy the stack with "
                "-c compose/swarm-homes.yml too, and mount the shared storage there on the manager."
            )
        for source in self.volume_binds:
            if source not in self.shared_volumes and not source.startswith("/"):
                if self.user_storage_dir:
                    await self.ensure_home_subvolume(source)
                else:
                    await asyncio.to_thread(self.ensure_home_folder, source)

    def ensure_home_folder(self, volume: str) -> None:
        folder = self.home_folder(volume)
        if not os.path.isdir(folder):
            self.log.info("Creating %s for %s in SWARM_HOMES", folder, self.user.name)
            os.mkdir(folder, 0o700)

    async def ensure_home_subvolume(self, volume: str) -> None:
        """The home's subvolume with its quota; a plain folder made before USER_DISK_QUOTA keeps working without."""
        folder = self.home_folder(volume)
        exists = await asyncio.to_thread(os.path.isdir, folder)
        if exists and not await asyncio.to_thread(quotas.is_subvolume, folder):
            self.warn_no_quota(volume)
            return
        await self.apply_quota(volume, new=not exists)

    async def pull_image(self, image):
        """Swarm's nodes pull for themselves; the manager only says whether it has the image."""
        image_id = await self.image_id(image)
        if image_id:
            self.report(10, f"Image {image} is on this manager")
            await self.check_jupyterhub_version(image, image_id)
        else:
            self.report(10, f"Image {image} is not on this manager; the node Swarm picks must have or pull it")

    async def get_command(self):
        """The image's own command when the manager has the image to read it from, else JupyterHub's default."""
        if self.cmd or await self.image_id(self.image):
            return await super().get_command()
        return ["jupyterhub-singleuser", *self.get_args()]

    async def create_object(self):
        self.fit_home_to_image()
        if self.homes_root:
            await self.ensure_home_folders()
        self.report(20, f"Creating service {self.object_name}")
        service = await SwarmSpawner.create_object(self)
        self.report(30, f"Service {self.object_name} created; waiting for Swarm to schedule its task")
        return service

    async def start_object(self):
        """Wait until the task runs, reporting where it was scheduled; fail at once when Swarm gives up on it."""
        reported_node = False
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            task = await self.get_task()
            if task is None:
                raise SpawnError(f"Swarm has no task for the service {self.service_name}.")
            state = task["Status"]["State"]
            if task.get("NodeID") and not reported_node:
                node = await self.docker("inspect_node", task["NodeID"])
                self.report(40, f"Task scheduled on node {node['Description']['Hostname']}")
                reported_node = True
            if state == "running":
                self.report(50, "Task running")
                return
            if state in TASK_ENDED:
                await self.remove_object()
                raise self.task_failure(task)
            if state == "pending" and NO_NODE in (task["Status"].get("Err") or ""):
                await self.log_requested_resources()
                await self.remove_object()
                raise SpawnError(
                    f"Swarm has no node that can run this server ({task['Status']['Err']}): the reservations, GPUs or "
                    "placement of its profile (or MEM_RESERVATION, CPU_RESERVATION, SWARM_PLACEMENT) ask for more "
                    "than any node offers.",
                    status=UNAVAILABLE,
                    reason="placement",
                )
            await asyncio.sleep(0.25)
        raise SpawnError(
            f"The task of {self.service_name} did not run within {self.start_timeout} s.", status=NO_ANSWER
        )

    async def log_requested_resources(self) -> None:
        service = await self.docker("inspect_service", self.service_id)
        self.log.warning(
            "No node can run the service %s, which asks for %s",
            self.service_name,
            service["Spec"]["TaskTemplate"].get("Resources"),
        )

    def task_failure(self, task: dict) -> SpawnError:
        reason = task["Status"].get("Err") or task["Status"].get("Message") or task["Status"]["State"]
        if "No such image" in reason:
            return SpawnError(
                f"Image {self.image} is not on the node Swarm chose, and it could not be pulled there ({reason}). "
                "Every node that may run user servers needs the image: build or pull it there, or use a registry.",
                status=UNAVAILABLE,
                reason="image",
            )
        return SpawnError(f"Swarm could not run the server's task: {reason}.", status=SERVER_FAILED, reason="server")

    async def get_ip_and_port(self):
        task = await self.get_task()
        for attachment in (task or {}).get("NetworksAttachments", []):
            if attachment["Network"]["Spec"]["Name"] == self.network_name and attachment.get("Addresses"):
                return attachment["Addresses"][0].split("/")[0], self.port
        raise SpawnError(f"The task of {self.service_name} has no address on the network {self.network_name}.")

    async def exit_reason(self) -> str | None:
        task = await self.get_task()
        if task is None:
            return "The server's service is gone."
        status = task["Status"]
        return None if status["State"] == "running" else f"The server's task stopped ({status['State']})."

    async def recent_logs(self) -> str:
        def read() -> bytes:
            return b"".join(self.client.service_logs(self.service_id, stdout=True, stderr=True, tail=LOG_LINES_SHOWN))

        return (await asyncio.to_thread(read)).decode(errors="replace").strip()


def gpu_resources(gpus: str | int | tuple[str, ...] | None) -> list[dict]:
    """GPUs as Swarm generic resources: a count (discrete), or device ids (named); `all` is refused by the settings."""
    if gpus is None:
        return []
    if isinstance(gpus, str):
        raise ValueError(f"gpus: {gpus} cannot be scheduled by Swarm, and the settings refuse it")
    if isinstance(gpus, tuple):
        return [{"NamedResourceSpec": {"Kind": GPU_RESOURCE_KIND, "Value": device}} for device in gpus]
    return [{"DiscreteResourceSpec": {"Kind": GPU_RESOURCE_KIND, "Value": gpus}}]
