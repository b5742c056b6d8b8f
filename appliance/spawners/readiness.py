"""A server's readiness: its port answers within SERVER_START_TIMEOUT, or its container's exit and last log lines
say why not; a container that stopped by itself is removed with its end logged."""

import asyncio
import time

import docker.errors

from appliance.spawners.base import SpawnerMixinBase
from appliance.spawners.errors import NO_ANSWER, SERVER_FAILED, SpawnError

LOG_LINES_SHOWN = 15


class ServerReadiness(SpawnerMixinBase):
    async def wait_for_server(self, ip: str, port: int) -> None:
        """Wait until the server accepts connections; fail fast when its container exits or it never answers.

        The port is tried every 0.05 s; Docker is asked whether the container still runs once a second,
        so that many spawns at once do not queue up Docker calls.
        """
        self.report(60, "Waiting for the server to answer")
        deadline = time.monotonic() + self.server_start_timeout
        next_state_check = time.monotonic() + 1
        while time.monotonic() < deadline:
            if await accepts_connections(ip, port):
                self.report(90, "The server answers")
                return
            if time.monotonic() >= next_state_check:
                reason = await self.exit_reason()
                if reason:
                    await self.fail_with_logs(reason, SERVER_FAILED)
                next_state_check = time.monotonic() + 1
            await asyncio.sleep(0.05)
        await self.fail_with_logs(
            f"The server's container runs, but nothing answered on port {port} within "
            f"{self.server_start_timeout} s (SERVER_START_TIMEOUT).",
            NO_ANSWER,
        )

    async def remove_stopped_container(self, status) -> None:
        try:
            logs = await self.recent_logs()
        except docker.errors.NotFound:
            return
        self.log.warning(
            "The container of %s stopped by itself (%s); removing it, its volume stays. Its last log lines:\n%s",
            self._log_name,
            status,
            logs or "(none)",
        )
        await self.remove_object()
        self.object_id = ""

    async def exit_reason(self) -> str | None:
        """Why the server's container no longer runs; None while it runs."""
        state = (await self.docker("inspect_container", self.container_id))["State"]
        return None if state["Running"] else f"The server's container exited at once (exit code {state['ExitCode']})."

    async def recent_logs(self) -> str:
        logs = await self.docker("logs", self.container_id, tail=LOG_LINES_SHOWN)
        return logs.decode(errors="replace").strip()

    async def fail_with_logs(self, reason: str, status: int) -> None:
        """Raise a SpawnError with the server's last log lines, after removing its container.

        JupyterHub does not stop a server whose container already exited, so the spawner removes it here.
        """
        logs = await self.recent_logs()
        await self.remove_object()
        raise SpawnError(f"{reason} Its last log lines:\n{logs or '(none)'}", status=status, reason="server")


async def accepts_connections(ip: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), timeout=1)
    except (TimeoutError, OSError):
        return False
    writer.close()
    return True
