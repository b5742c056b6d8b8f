"""What the appliance needs to work, one concern each: `appliance run` prepares them in this order before the hub
starts (each fails closed, saying why and how to fix it), and `appliance doctor` checks them in the same order on
the running appliance.

A concern's `prepare(settings, say)` may return variables for the hub's processes (the resolved secrets, say); its
`diagnose(settings)` gives the doctor's outcome, run only when the concerns it `needs` passed.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from appliance.concerns import backups, engine, front, sharing, storage
from appliance.declarations import Outcome, Report, Settings, present
from appliance.login import LOGIN_MODES
from appliance.servers import SPAWNER_MODES
from appliance.storage import quotas

Prepare = Callable[[Settings, Report], Mapping[str, str] | None]


@dataclass(frozen=True)
class Concern:
    name: str
    diagnose: Callable[[Settings], Outcome] | None = None
    prepare: Prepare | None = None
    needs: tuple[str, ...] = ()


def start_login_mode(settings: Settings, say: Report) -> None:
    """The login mode's own start step (oidc: wait for the issuer), before anything is written."""
    LOGIN_MODES[settings["AUTH_MODE"]].start(settings, say)


def check_login_mode(settings: Settings) -> Outcome:
    return present(LOGIN_MODES[settings["AUTH_MODE"]].diagnose)(settings)


CONCERNS = (
    Concern("auth", check_login_mode, start_login_mode),
    Concern("data dir", storage.check_data_dir, storage.prepare_data_dir),
    # Before the secrets: a DATA_DIR that already has them was made by an older release.
    Concern("install layout", prepare=storage.prepare_install_layout),
    Concern("secrets", prepare=storage.prepare_secrets),
    Concern("database", storage.check_database, storage.prepare_database),
    Concern("sharing", prepare=sharing.revoke_shares_when_off),
    Concern("docker socket", engine.check_docker_socket),
    Concern("docker broker", engine.check_broker, engine.require_broker, ("docker socket",)),
    # Refused at start when the homes with quotas are not on btrfs; the doctor checks them only where they are.
    Concern("user storage", prepare=quotas.prepare_user_storage),
    Concern("user network", engine.check_network, engine.join_networks_of_running_servers, ("docker socket",)),
    Concern("user images", engine.check_images, needs=("docker socket",)),
    Concern("GPUs", engine.check_gpus, needs=("docker socket",)),
    Concern("hub API from users", engine.check_hub_api_from_user_network, needs=("user network", "user images")),
    Concern("network rules", engine.check_network_rules, engine.check_network_isolation, ("user network",)),
    Concern("plain HTTP", front.check_plain_http, front.prepare_front),
)


def concerns_for(settings: Settings) -> tuple[Concern, ...]:
    """The shared concerns, and the spawner mode's own check where it has one."""
    mode = SPAWNER_MODES[settings["SPAWNER_MODE"]]
    found: tuple[Concern, ...] = CONCERNS
    if mode.diagnose is not None:
        found += (Concern(f"{mode.name} mode", mode.diagnose, needs=("docker socket",)),)
    if settings["BACKUP_REPOSITORY"] is not None:
        found += (Concern("backups", backups.check_backups, needs=("docker broker",)),)
    if quotas.quota_homes(settings):
        found += (Concern("user storage", quotas.check_user_storage, needs=("docker broker",)),)
    return found
