"""`appliance doctor`: checks the running appliance end to end and says how to fix what fails."""

import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import jupyterhub
import sqlalchemy

from appliance import data_dir as data_dir_checks
from appliance import docker_host, image_pulls, profiles
from appliance.database import connect_url, is_postgres, jupyterhub_revisions, sqlite_file
from appliance.declarations import Outcome, Settings, failed, passed, warned
from appliance.images import jupyterhub_mismatch, looks_like_docker_stacks
from appliance.labels import LABEL_INSTANCE
from appliance.layout import HUB_PORT_INSIDE, HUB_SERVICE_NAME
from appliance.login import LOGIN_MODES
from appliance.network_rules import NetworkRulesError, Policy, probe_rules
from appliance.secret_store import SECRETS_FOLDER, STORED_SECRETS, secret_path
from appliance.servers import SPAWNER_MODES
from appliance.settings import SettingsError, load, plain_http_warning

PROBE_SECONDS = 60


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Settings], Outcome]
    needs: tuple[str, ...] = ()


def check_docker_socket(settings: Settings) -> Outcome:
    address = docker_host.address()
    try:
        version = docker_host.client().version()["Version"]
    except docker.errors.DockerException as error:
        if "Permission denied" in str(error):
            return failed(f"{address}: permission denied", "run the hub as root, or in the socket's group")
        if "No such file" in str(error):
            return failed(f"no socket at {address}", "mount /var/run/docker.sock into the hub container")
        return failed(f"{address} does not answer: {error}", "check that the Docker engine runs")
    return passed(f"{address} answers, Docker {version}")


def check_network(settings: Settings) -> Outcome:
    name = settings["DOCKER_NETWORK"]
    client = docker_host.client()
    try:
        client.networks.get(name)
    except docker.errors.NotFound:
        return failed(f"network {name} does not exist", "`docker compose up -d` creates it")
    hub = docker_host.own_container(client)
    if hub is None:
        return failed("cannot find the hub's own container", "run the doctor inside the hub container")
    if name not in hub.attrs["NetworkSettings"]["Networks"]:
        return failed(
            f"the hub is not attached to {name}",
            f"docker network connect --alias {HUB_SERVICE_NAME} {name} {hub.name}",
        )
    return passed(f"{name} exists and the hub is attached")


def check_hub_api_from_user_network(settings: Settings) -> Outcome:
    """The classic failure: a user container cannot reach the hub. Probe it from a throwaway one."""
    url = f"http://{HUB_SERVICE_NAME}:{HUB_PORT_INSIDE}/hub/api"
    probe = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).status)"
    try:
        output = docker_host.client().containers.run(
            settings["SINGLEUSER_IMAGE"],
            entrypoint=["python3", "-c", probe],
            network=settings["DOCKER_NETWORK"],
            labels={LABEL_INSTANCE: settings["APPLIANCE_INSTANCE"]},
            remove=True,
            stderr=True,
        )
    except docker.errors.ContainerError as error:
        last_line = error.stderr.decode(errors="replace").strip().splitlines()[-1:] if error.stderr else []
        return failed(
            f"{url} is unreachable from {settings['DOCKER_NETWORK']}: {' '.join(last_line)}",
            f"attach the hub to {settings['DOCKER_NETWORK']} under the name {HUB_SERVICE_NAME} (see the network check)",
        )
    except docker.errors.DockerException as error:
        return failed(f"could not run a probe container: {error}", "fix the checks above first")
    return passed(f"{url} answers HTTP {output.decode().strip()} from a container on {settings['DOCKER_NETWORK']}")


def check_images(settings: Settings) -> Outcome:
    """Each user image is here, being pulled ahead (with its progress) or pullable, and those here have a
    JupyterHub that works with the hub's; a pull ahead that failed is named with its reason."""
    client = docker_host.client()
    images = dict.fromkeys(profile.image for profile in profiles.in_use(settings))
    pulls = image_pulls.read_states()
    missing, pulling, found, configs = [], [], {}, {}
    for image in images:
        try:
            configs[image] = client.images.get(image).attrs["Config"]
        except docker.errors.ImageNotFound:
            state = pulls.get(image)
            if state is not None and state.pulling:
                pulling.append(state)
            elif not pullable(client, image):
                missing.append(state.shown() if state is not None else image)
            continue
        found[image] = docker_host.jupyterhub_version_in(
            client, image, {LABEL_INSTANCE: settings["APPLIANCE_INSTANCE"]}
        )
    still_pulling = f"still pulling: {', '.join(p.shown() for p in pulling)}" if pulling else ""
    if missing:
        return failed(
            "; ".join(filter(None, [f"not on this host and not pullable: {', '.join(missing)}", still_pulling])),
            "build or pull them on the Docker host (the appliance's own user image: `docker compose build`)",
        )
    mismatches = [
        jupyterhub_mismatch(image, version, jupyterhub.__version__, looks_like_docker_stacks(configs[image]))
        for image, version in found.items()
    ]
    if any(mismatches):
        return failed(" ".join(filter(None, mismatches)), "use user images with the hub's JupyterHub major version")
    described = [f"{image} (JupyterHub {found[image] or 'unknown'})" for image in found]
    described += [image for image in images if image not in found and image not in {p.image for p in pulling}]
    if pulling:
        return warned(
            f"present: {', '.join(described) or 'none'}; {still_pulling}",
            "spawns of these images wait for their pull; nothing to do unless it stalls",
        )
    return passed(f"present or pullable: {', '.join(described)}")


def check_gpus(settings: Settings) -> Outcome:
    """When a profile asks for GPUs, the engine can give them: the NVIDIA runtime, or CDI devices it discovered."""
    wanting = [profile.name for profile in profiles.in_use(settings) if profile.gpus is not None]
    if not wanting:
        return passed("no profile asks for GPUs")
    info = docker_host.client().info()
    runtimes = sorted(info.get("Runtimes") or {})
    devices = [device.get("ID", "?") for device in info.get("DiscoveredDevices") or ()]
    if "nvidia" in runtimes or devices:
        found = f"runtimes {', '.join(runtimes)}" + (f"; CDI devices {', '.join(devices)}" if devices else "")
        return passed(f"profiles {', '.join(wanting)} ask for GPUs; the engine has {found}")
    return failed(
        f"profiles {', '.join(wanting)} ask for GPUs, but the engine has no GPU runtime (runtimes: "
        f"{', '.join(runtimes) or 'none'}) and no CDI devices",
        "install the NVIDIA Container Toolkit on the Docker host "
        "(https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html), run "
        "`sudo nvidia-ctk runtime configure --runtime=docker` and restart Docker; or remove gpus from those profiles",
    )


def pullable(client: docker.DockerClient, image: str) -> bool:
    try:
        client.images.get_registry_data(image)
    except docker.errors.APIError:
        return False
    return True


def check_data_dir(settings: Settings) -> Outcome:
    data_dir = Path(settings["DATA_DIR"])
    try:
        data_dir_checks.check_data_dir(str(data_dir), sqlite_file(settings["DATABASE_URL"]))
    except data_dir_checks.DataDirError as error:
        return failed(error.problem, error.fix)
    loose = [
        f"{path} is {stat.S_IMODE(path.stat().st_mode):o}"
        for path, wanted in secret_paths(data_dir)
        if path.exists() and stat.S_IMODE(path.stat().st_mode) != wanted
    ]
    if loose:
        return failed("; ".join(loose), f"chmod 700 {data_dir / SECRETS_FOLDER} and chmod 600 the files in it")
    return passed(f"{data_dir} is writable, has room, and its secrets are the hub's and private")


def secret_paths(data_dir: Path) -> list[tuple[Path, int]]:
    return [(data_dir / SECRETS_FOLDER, 0o700)] + [(secret_path(data_dir, s), 0o600) for s in STORED_SECRETS]


def check_database(settings: Settings) -> Outcome:
    url = sqlalchemy.engine.make_url(connect_url(settings))
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        return failed(f"no database at {url.database}", "start the hub once, or fix DATABASE_URL")
    connect_args = {} if url.get_backend_name() == "sqlite" else {"connect_timeout": 5}
    try:
        engine = sqlalchemy.create_engine(url, connect_args=connect_args, poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as connection:
            revision = connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
            server = f"PostgreSQL {connection.dialect.server_version_info[0]}, " if is_postgres(str(url)) else ""
    except sqlalchemy.exc.SQLAlchemyError as error:
        reason = " ".join(str(error.orig or error).split()).split(" [SQL:")[0] if is_postgres(str(url)) else ""
        return failed(
            f"cannot read the database: {error.__class__.__name__}" + (f" ({reason})" if reason else ""),
            "check DATABASE_URL (and DATABASE_PASSWORD_FILE) and that the server runs",
        )
    head, _ = jupyterhub_revisions()
    if revision != head:
        return failed(
            f"schema {revision} is not JupyterHub {jupyterhub.__version__}'s {head}",
            "restart the hub: it backs up the database (sqlite copy or pg_dump) and upgrades it",
        )
    return passed(f"{server}reachable, schema current ({head})")


def check_auth(settings: Settings) -> Outcome:
    return LOGIN_MODES[settings["AUTH_MODE"]].diagnose(settings)


def check_network_rules(settings: Settings) -> Outcome:
    """Isolation is on, and holds for real: from a probe under a user server's rules, only the hub's API answers."""
    if settings["USER_NETWORK_ISOLATION"] == "off":
        where = " (swarm mode cannot enforce it)" if settings["SPAWNER_MODE"] == "swarm" else ""
        return warned(
            f"USER_NETWORK_ISOLATION=off{where}: user servers can reach each other, every port of the hub, "
            "the Docker host and the cloud metadata address",
            "set USER_NETWORK_ISOLATION=on in docker or system mode",
        )
    policy = Policy(settings["USER_EGRESS"], settings["USER_EGRESS_ALLOW"] or ())
    engine = docker_host.client()
    try:
        reached = probe_rules(
            engine, docker_host.own_container(engine), settings["DOCKER_NETWORK"], policy, instance_labels(settings)
        )
    except NetworkRulesError as error:
        return failed(f"the rules could not be tried: {error}", "restart the hub: it checks them at start and says why")
    if not reached.canary_listens:
        return failed(f"the canary container never listened, so nothing was proven ({reached})", "run it again")
    if not reached.holds:
        return failed(str(reached), "restart the hub, then run the doctor again; report it if this stays")
    return passed(f"from a probe under a user server's rules (USER_EGRESS={settings['USER_EGRESS']}): {reached}")


def check_plain_http(settings: Settings) -> Outcome:
    warning = plain_http_warning(settings)
    if warning:
        fix = "set DOMAIN, or HUB_BIND=127.0.0.1 behind your own HTTPS proxy"
        return warned(warning.removeprefix("WARNING: "), fix)
    return passed("passwords do not cross a network in clear (HTTPS, loopback only, or no password login)")


def instance_labels(settings: Settings) -> dict[str, str]:
    return {LABEL_INSTANCE: settings["APPLIANCE_INSTANCE"]}


CHECKS = (
    Check("docker socket", check_docker_socket),
    Check("user network", check_network, needs=("docker socket",)),
    Check("user images", check_images, needs=("docker socket",)),
    Check("GPUs", check_gpus, needs=("docker socket",)),
    Check("hub API from users", check_hub_api_from_user_network, needs=("user network", "user images")),
    Check("network rules", check_network_rules, needs=("user network",)),
    Check("data dir", check_data_dir),
    Check("database", check_database),
    Check("auth", check_auth),
    Check("plain HTTP", check_plain_http),
)


@dataclass(frozen=True)
class Result:
    name: str
    outcome: Outcome | None
    skipped_because: str = ""


def diagnose(environ) -> list[Result]:
    """Every check's result, in order; a check whose prerequisites failed is skipped, not run."""
    try:
        settings = load(environ)
    except SettingsError as error:
        problems = "\n".join(str(problem) for problem in error.problems)
        results = [Result("settings", failed(problems, "fix .env; `appliance check` shows the settings"))]
        return results + [Result(check.name, None, "the settings are invalid") for check in CHECKS]
    results = [Result("settings", passed("every setting is valid"))]
    ok = {"settings"}
    for check in checks_for(settings):
        missing = [name for name in check.needs if name not in ok]
        if missing:
            results.append(Result(check.name, None, f"needs {' and '.join(missing)}"))
            continue
        outcome = run_guarded(check, settings)
        results.append(Result(check.name, outcome))
        if outcome.ok:
            ok.add(check.name)
    return results


def checks_for(settings: Settings) -> tuple[Check, ...]:
    """The shared checks, and the spawner mode's own where it has one."""
    mode = SPAWNER_MODES[settings["SPAWNER_MODE"]]
    if mode.diagnose is None:
        return CHECKS
    return (*CHECKS, Check(f"{mode.name} mode", mode.diagnose, needs=("docker socket",)))


def run_guarded(check: Check, settings: Settings) -> Outcome:
    """One check that breaks is one FAIL with its error; the report goes on with the others."""
    try:
        return check.run(settings)
    except Exception as error:
        return failed(
            f"the check itself failed: {type(error).__name__}: {error}",
            "the other checks still ran; fix what they report first, then run the doctor again",
        )


def render(results: list[Result]) -> str:
    width = max(len(result.name) for result in results)
    indent = " " * (width + 8)
    lines = []
    for result in results:
        outcome = result.outcome
        if outcome is None:
            lines.append(f"{result.name:<{width}}  SKIP  {result.skipped_because}")
            continue
        detail = outcome.detail.replace("\n", "\n" + indent)
        lines.append(f"{result.name:<{width}}  {outcome.label}  {detail}")
        if outcome.fix:
            lines.append(f"{indent}fix: {outcome.fix}")
    return "\n".join(lines)
