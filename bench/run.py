"""`make bench`: how long users wait for their server, against the physical floor and a stock hub.

All in one run, on the same machine and images:
- floor: `docker run` of the user image until its server answers HTTP, no hub involved;
- appliance: the hub's start API until the server is ready, then a burst of users at once,
  one full login-to-JupyterLab flow, where the time of one spawn goes, and the hub's memory;
- stock: JupyterHub + DockerSpawner as in jupyterhub-deploy-docker's basic example.
Prints a table and writes it as JSON and markdown to bench/results/ (or --results).
"""

import argparse
import contextlib
import json
import os
import platform
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docker
import requests

from appliance import docker_host
from bench import engine_stats
from harness.btrfs import can_make_btrfs, mounted_btrfs
from harness.compose import HUB_IMAGE, ROOT, SINGLEUSER_IMAGE, SYSTEMUSER_IMAGE, Stack
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient, events_until_ready, wait_until
from harness.stock import StockHub

RESULTS = ROOT / "bench" / "results"
BENCH_LABEL = "jupyterhub-appliance.bench"
RUN = secrets.token_hex(4)
SERVER_PORT = 8888


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- figures --------------------------------------------------------------------------------------
@dataclass
class Series:
    """Latencies of one measurement; makespan for a burst (first start to last ready); for sequential starts,
    the CPU-seconds each server's container used from its start until it was ready."""

    name: str
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    makespan: float | None = None
    makespans: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def p95(self) -> float | None:
        if not self.seconds:
            return None
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def cpu_p50(self) -> float | None:
        return round(statistics.median(self.cpu_seconds), 3) if self.cpu_seconds else None

    def summary(self) -> dict:
        return {**asdict(self), "p50": self.p50, "p95": self.p95, "count": len(self.seconds), "cpu_p50": self.cpu_p50}


def sequential(name: str, count: int, once) -> Series:
    """`once(index, cpu_seconds)` starts one server, appends its CPU-seconds to ready, returns its latency."""
    return alternating({name: once}, count)[name]


def alternating(onces: dict, count: int) -> dict[str, Series]:
    """Like `sequential` for several setups, their starts taken in turn (A, B, A, B, …), so that the machine's
    drift during the run weighs on each alike and their difference is theirs."""
    series = {name: Series(name) for name in onces}
    for index in range(count):
        for name, once in onces.items():
            try:
                series[name].seconds.append(once(index, series[name].cpu_seconds))
            except Exception as error:  # a failed spawn is a figure, not the end of the bench
                series[name].failures.append(f"{type(error).__name__}: {error}"[:300])
    for one in series.values():
        log(
            f"{one.name}: p50 {fmt(one.p50)} over {len(one.seconds)}, {len(one.failures)} failed, "
            f"{one.cpu_p50} CPU-seconds to ready (p50)"
        )
    return series


def burst(name: str, count: int, once) -> Series:
    """Run `once(index)` in `count` threads released together; each returns its own latency."""
    series, gate = Series(name), threading.Barrier(count)

    def timed(index):
        gate.wait()
        started = time.monotonic()
        try:
            return started, once(index), time.monotonic()
        except Exception as error:
            return started, error, time.monotonic()

    with ThreadPoolExecutor(count) as pool:
        outcomes = list(pool.map(timed, range(count)))
    for _, outcome, _ in outcomes:
        if isinstance(outcome, Exception):
            series.failures.append(f"{type(outcome).__name__}: {outcome}"[:300])
        else:
            series.seconds.append(outcome)
    series.makespan = max(end for _, _, end in outcomes) - min(start for start, _, _ in outcomes)
    log(f"{name}: makespan {fmt(series.makespan)}, p95 {fmt(series.p95)}, {len(series.failures)} failed")
    return series


def alternating_bursts(setups: dict, count: int, rounds: int) -> dict[str, Series]:
    """Bursts of several setups taken in turn, the order reversed every round (A B, B A, A B, …): whichever goes
    first is seconds faster on this machine, so each goes first alike. `setups` maps a name to (once, after),
    `after` running once each burst is over. A setup's makespan is its median round's; its latencies are all."""
    series = {name: Series(name) for name in setups}
    names = list(setups)
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else names[::-1]:
            once, after = setups[name]
            one = burst(f"{name}, round {round_index + 1} of {rounds}", count, once)
            after()
            series[name].seconds += one.seconds
            series[name].failures += one.failures
            series[name].makespans.append(one.makespan or 0.0)
    for one in series.values():
        one.makespan = statistics.median(one.makespans) if one.makespans else None
        log(f"{one.name}: median makespan {fmt(one.makespan)} of {seconds_list(one.makespans)}")
    return series


def seconds_list(values: list[float]) -> str:
    return "[" + ", ".join(f"{value:.2f}" for value in values) + "] s"


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


# -- the floor: docker run until the server answers --------------------------------------------
# The user image's server without real-time collaboration (jupyter-collaboration's server extensions not loaded):
# the floor beside the floor, so that a run says what the extension costs each server start.
WITHOUT_COLLABORATION = (
    "--ServerApp.jpserver_extensions=jupyter_server_ydoc=False",
    "--ServerApp.jpserver_extensions=jupyter_server_fileid=False",
)


class Floor:
    def __init__(self, client: docker.DockerClient, network: str, extra_args: tuple[str, ...] = ()):
        self.client, self.network, self.started = client, network, []
        self.extra_args = extra_args

    def once(self, _index: int, cpu_seconds: list[float] | None = None) -> float:
        started = time.monotonic()
        container = self.client.containers.run(
            SINGLEUSER_IMAGE,
            [
                "jupyter",
                "server",
                "--ip=0.0.0.0",
                f"--port={SERVER_PORT}",
                "--IdentityProvider.token=",
                *self.extra_args,
            ],
            detach=True,
            network=self.network,
            labels={BENCH_LABEL: RUN},
        )
        self.started.append(container)
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"]
        wait_until(lambda: http_ok(f"http://{address}:{SERVER_PORT}/api"), "the floor server", every=0.05)
        seconds = time.monotonic() - started
        if cpu_seconds is not None:
            cpu_seconds.append(engine_stats.cpu_seconds(engine_stats.snapshot(container)))
        return seconds

    def clean(self) -> None:
        for container in self.started:
            container.remove(force=True)
        self.started.clear()


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


# -- a hub driven through its REST API with a token -------------------------------------------
class HubApi:
    def __init__(self, base_url: str, token: str):
        self.base_url, self.token = base_url.rstrip("/"), token
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"token {token}"

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, f"{self.base_url}/hub/api{path}", timeout=120, **kwargs)

    def create_users(self, names: list[str]) -> None:
        response = self.call("POST", "/users", json={"usernames": names})
        assert response.status_code in (201, 409), response.text

    def start_until_ready(self, user: str) -> float:
        """Start the user's server; return the seconds until the progress stream says it is ready."""
        started = time.monotonic()
        response = self.call("POST", f"/users/{user}/server")
        if response.status_code not in (201, 202):
            raise RuntimeError(f"start of {user}: HTTP {response.status_code} {response.text[:200]}")
        with self.call("GET", f"/users/{user}/server/progress", stream=True) as stream:
            events_until_ready(stream)
        return time.monotonic() - started

    def stop(self, user: str) -> None:
        self.call("DELETE", f"/users/{user}/server")
        wait_until(lambda: not self.call("GET", f"/users/{user}").json().get("servers"), f"{user}'s server to stop")

    def cycle(self, user: str, container_of, cpu_seconds: list[float]) -> float:
        """Start, note the CPU-seconds of the server's container (`container_of(user)`) so far, stop."""
        seconds = self.start_until_ready(user)
        cpu_seconds.append(engine_stats.cpu_seconds(engine_stats.snapshot(container_of(user))))
        self.stop(user)
        return seconds


# -- memory ---------------------------------------------------------------------------------------
RSS_SCRIPT = """
import json, os
rss = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) == os.getpid():  # this probe's own command line names every marker
        continue
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
        status = open(f"/proc/{pid}/status").read()
    except OSError:
        continue
    command = b" ".join(argv[:4]).decode(errors="replace")
    kb = int(next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), 0))
    for name, marker in (("supervisord", "supervisord"), ("hub", "bin/jupyterhub"),
                         ("proxy", "configurable-http-proxy"), ("services", "jupyterhub_idle_culler"),
                         ("services", "appliance reconcile"), ("broker", "appliance.broker")):
        if marker in command:
            rss[name] = rss.get(name, 0) + kb
            break
print(json.dumps(rss))
"""


def rss_megabytes(container) -> dict[str, float]:
    output = container.exec_run(["python3", "-c", RSS_SCRIPT]).output.decode()
    found = {name: round(kb / 1024, 1) for name, kb in json.loads(output).items()}
    found["hub + proxy + supervisord"] = round(sum(found.get(n, 0) for n in ("hub", "proxy", "supervisord")), 1)
    return found


# -- where one spawn's time goes, from the hub's own log lines --------------------------------
STEPS = (
    ("container create", "Creating container"),
    ("container start", "Starting container"),
    ("server process start", "Waiting for the server to answer"),
    ("hub notices ready (HTTP check, proxy route)", "The server answers"),
)
LOG_TIME = re.compile(r"\[\w (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ")


def stamped_lines(logs: str):
    """(seconds since the epoch, line) for each JupyterHub log line; the hub container logs in UTC."""
    for line in logs.splitlines():
        stamp = LOG_TIME.search(line)
        if stamp:
            yield datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp(), line


def spawn_breakdown(logs: str, user: str) -> dict[str, float]:
    """Seconds between the spawner's steps and JupyterHub's 'took' line, for the user's last spawn."""
    marks = {}
    for at, line in stamped_lines(logs):
        for _, message in STEPS:
            if f"Spawn of {user}: {message}" in line:
                marks[message] = at
        if f"User {user} took" in line and "seconds to start" in line:
            marks["took"] = at
    points = [message for _, message in STEPS] + ["took"]
    if not all(point in marks for point in points):
        return {}
    return {step: round(marks[points[i + 1]] - marks[points[i]], 3) for i, (step, _) in enumerate(STEPS)}


# -- the appliance --------------------------------------------------------------------------------
@contextlib.contextmanager
def appliance_hub(
    client, workdir: Path, users: list[str], settings: dict[str, str], note: str, overlays: tuple[str, ...] = ()
):
    """An appliance stack whose admin password and ALLOWED_USERS are set, `users` created; yields the stack and
    a HubApi with an admin token. Afterwards the stack goes, with every server it spawned."""
    env = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "ALLOWED_USERS": ",".join(users), "IDLE_TIMEOUT": "0", **settings}
    stack = Stack(client, workdir, env, overlays=overlays)
    log(f"starting the appliance ({stack.project}), setting {', '.join(sorted(settings))}")  # names only: secrets
    stack.up(healthy=True)
    try:
        admin = stack.client_for().login("admin", ADMIN_PASSWORD)
        token = admin.api("POST", "/users/admin/tokens", json={"note": note}).json()["token"]
        api = HubApi(stack.url, token)
        api.create_users(users)
        yield stack, api
    finally:
        stack.down()


def measure_appliance(client, sizes, workdir: Path) -> tuple[dict, dict]:
    """The appliance, and beside it the same appliance with its hub on the engine's own socket
    (bench/direct-socket.yml): their sequential starts in turn, then a burst on each; what the broker costs."""
    users = [f"a{index:02d}" for index in range(1, sizes["burst"] + 1)]
    direct_users = [f"d{index:02d}" for index in range(1, sizes["burst"] + 1)]
    settings = {"USER_PASSWORD": USER_PASSWORD}
    direct = ("bench/direct-socket.yml",)
    with (
        appliance_hub(client, workdir, users, settings, "bench") as (stack, hub),
        appliance_hub(client, workdir, direct_users, settings, "bench", direct) as (direct_stack, direct_hub),
    ):
        hub_container, broker_container = stack.hub_container(), stack.service_container("broker")
        idle = {**rss_megabytes(hub_container), "broker": rss_megabytes(broker_container)["broker"]}
        seq = alternating(
            {
                "appliance sequential": lambda _, cpu: hub.cycle(users[0], first_container_of(stack), cpu),
                "appliance without broker sequential": lambda _, cpu: direct_hub.cycle(
                    direct_users[0], first_container_of(direct_stack), cpu
                ),
            },
            sizes["broker pairs"],
        )
        breakdown = spawn_breakdown(stack.logs(), users[0])
        busy: dict = {}

        def stop_appliance_servers() -> None:
            busy[f"{len(stack.user_containers())} servers running"] = {
                **rss_megabytes(hub_container),
                "broker": rss_megabytes(broker_container)["broker"],
            }
            for user in users:
                hub.stop(user)

        def stop_direct_servers() -> None:
            for user in direct_users:
                direct_hub.stop(user)

        bursts = alternating_bursts(
            {
                "appliance burst": (lambda i: hub.start_until_ready(users[i]), stop_appliance_servers),
                "appliance without broker burst": (
                    lambda i: direct_hub.start_until_ready(direct_users[i]),
                    stop_direct_servers,
                ),
            },
            sizes["burst"],
            sizes["burst rounds"],
        )
        login = login_to_lab(stack, users[0])
        appliance = {
            "sequential": seq["appliance sequential"].summary(),
            "burst": bursts["appliance burst"].summary(),
            "login_to_lab_seconds": login,
            "breakdown": breakdown,
            "rss_mb": {"idle": idle, **busy},
        }
        without = {
            "sequential": seq["appliance without broker sequential"].summary(),
            "burst": bursts["appliance without broker burst"].summary(),
        }
        return appliance, without


def measure_quotas(client, sizes, workdir: Path) -> dict:
    """The appliance with USER_STORAGE_DIR (homes as btrfs subvolumes with quotas, on a loop file) beside the same
    appliance without: their sequential starts in turn. Each user's first start makes the subvolume; the others
    find it (the spawn path's cost once a home exists)."""
    why_not = can_make_btrfs()
    if why_not:
        log(f"quotas not measured: {why_not}")
        return {"skipped": why_not}
    settings = {"USER_PASSWORD": USER_PASSWORD}
    with (
        mounted_btrfs(workdir, "1G") as homes,
        appliance_hub(client, workdir, ["p01"], settings, "bench") as (plain_stack, plain),
        appliance_hub(client, workdir, ["q01"], {**settings, "USER_STORAGE_DIR": str(homes), "USER_DISK_QUOTA": "1G"},
                      "bench") as (quota_stack, quota),
    ):  # fmt: skip
        series = alternating(
            {
                "appliance beside quotas sequential": lambda _, cpu: plain.cycle(
                    "p01", first_container_of(plain_stack), cpu
                ),
                "appliance with quotas sequential": lambda _, cpu: quota.cycle(
                    "q01", first_container_of(quota_stack), cpu
                ),
            },
            sizes["sequential"],
        )
    return {
        "without": series["appliance beside quotas sequential"].summary(),
        "with": series["appliance with quotas sequential"].summary(),
    }


def first_container_of(stack: Stack):
    return lambda user: stack.user_containers(user)[0]


def login_to_lab(stack: Stack, user: str) -> float:
    """A browser-less client's whole flow: login form, start, progress, then JupyterLab over OAuth."""
    started = time.monotonic()
    person = HubClient(stack.url).login(user, USER_PASSWORD)
    person.start_server()
    lab = person.open_lab()
    assert lab.status_code == 200 and "JupyterLab" in lab.text, lab.status_code
    seconds = time.monotonic() - started
    person.stop_server()
    log(f"login to JupyterLab: {fmt(seconds)}")
    return seconds


# -- the stock baseline ---------------------------------------------------------------------------
@contextlib.contextmanager
def stock_hub(client, network: str, user_prefix: str):
    """The stock hub (harness.stock) on `network`; yields its container and a HubApi. Afterwards it removes the hub,
    every server it spawned and the volumes of users named `user_prefix…`."""
    hub = StockHub(client, network, user_prefix, BENCH_LABEL, RUN)
    log("starting the stock hub")
    try:
        yield hub.up().container, HubApi(hub.url, hub.token)
    finally:
        hub.down()


def measure_stock(client, sizes, network) -> dict:
    users = [f"stock{index:02d}" for index in range(1, sizes["burst"] + 1)]
    with stock_hub(client, network, "stock") as (_, api):
        api.create_users(users)
        seq = sequential(
            "stock sequential",
            sizes["sequential"],
            lambda _, cpu: api.cycle(users[0], lambda user: client.containers.get(f"jupyter-{user}"), cpu),
        )
        bur = burst("stock burst", sizes["burst"], lambda i: api.start_until_ready(users[i]))
        for user in users:
            api.stop(user)
        return {"sequential": seq.summary(), "burst": bur.summary()}


# -- images ---------------------------------------------------------------------------------------
def image_sizes(client) -> dict[str, int]:
    images = (HUB_IMAGE, SINGLEUSER_IMAGE, SYSTEMUSER_IMAGE)
    return {image: round(client.images.get(image).attrs["Size"] / 1e6) for image in images}


def cold_builds(client) -> dict[str, int]:
    """Build every image without the layer cache under throwaway tags; seconds per image."""
    tags = {name: f"jupyterhub-appliance-bench/{name}:cold" for name in ("hub", "singleuser", "systemuser")}
    env = {**os.environ, "BUILD_FLAGS": "--no-cache", **{f"{n.upper()}_IMAGE": t for n, t in tags.items()}}
    log("cold builds of every image (no layer cache)")
    output = subprocess.run(
        [ROOT / "scripts" / "build-images.sh"], env=env, capture_output=True, text=True, check=True
    ).stdout
    seconds = {tag: int(s) for tag, s in re.findall(r"\[images\] built (\S+) in (\d+) s", output)}
    for tag in tags.values():
        client.images.remove(tag)
    return {name: seconds[tag] for name, tag in tags.items()}


# -- the run --------------------------------------------------------------------------------------
def ratio(numerator, denominator) -> float | None:
    return round(numerator / denominator, 2) if numerator and denominator else None


def milliseconds(with_it, without_it) -> float | None:
    return round((with_it - without_it) * 1000) if with_it and without_it else None


def paired_difference_ms(with_it: list[float], without_it: list[float], resamples: int = 2000) -> dict:
    """The median of the differences of starts taken in turn (each pair saw the same moment of the machine), and
    its 95 % bootstrap interval: what the spawns say about the broker's cost, with how sure they are."""
    differences = [a - b for a, b in zip(with_it, without_it, strict=False)]
    if not differences:
        return {"median": None, "95% interval": None, "pairs": 0}
    draw = random.Random(0)
    medians = sorted(statistics.median(draw.choices(differences, k=len(differences))) for _ in range(resamples))
    interval = [round(medians[int(0.025 * resamples)] * 1000), round(medians[int(0.975 * resamples) - 1] * 1000)]
    return {"median": round(statistics.median(differences) * 1000), "95% interval": interval, "pairs": len(differences)}


def run(sizes: dict, with_cold_builds: bool) -> dict:
    client = docker_host.client()
    network = client.networks.create(f"appliance-bench-{RUN}", labels={BENCH_LABEL: RUN})
    floor = Floor(client, network.name)
    bare_floor = Floor(client, network.name, WITHOUT_COLLABORATION)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            floors = alternating(
                {
                    "floor sequential": lambda i, cpu: clean_after(floor, i, cpu),
                    "floor without collaboration sequential": lambda i, cpu: clean_after(bare_floor, i, cpu),
                },
                sizes["sequential"],
            )
            floor_seq, bare_seq = floors["floor sequential"], floors["floor without collaboration sequential"]
            floor_burst = burst("floor burst", sizes["burst"], floor.once)
            floor.clean()
            appliance, without_broker = measure_appliance(client, sizes, Path(workdir))
            quotas = measure_quotas(client, sizes, Path(workdir))
            stock = measure_stock(client, sizes, network.name)
    finally:
        floor.clean()
        bare_floor.clean()
        network.remove()
    results = {
        "run": RUN,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "sizes": sizes,
        "floor": {"sequential": floor_seq.summary(), "burst": floor_burst.summary()},
        "floor without collaboration": {"sequential": bare_seq.summary()},
        "appliance": appliance,
        "without broker": without_broker,
        "stock": stock,
        "quotas": quotas,
        "image_mb": image_sizes(client),
        "cold_build_seconds": cold_builds(client) if with_cold_builds else None,
    }
    results["ratios"] = ratios(results)
    results["broker_cost_ms"] = {
        "sequential p50": milliseconds(appliance["sequential"]["p50"], without_broker["sequential"]["p50"]),
        "burst makespan": milliseconds(appliance["burst"]["makespan"], without_broker["burst"]["makespan"]),
        "sequential, paired": paired_difference_ms(
            appliance["sequential"]["seconds"], without_broker["sequential"]["seconds"]
        ),
    }
    results["collaboration_cost"] = collaboration_cost(results["floor"], results["floor without collaboration"])
    return results


def quota_ratios(quotas: dict, floor: dict) -> dict:
    if "skipped" in quotas:
        return {}
    return {
        "appliance beside quotas/floor sequential p50": ratio(quotas["without"]["p50"], floor["sequential"]["p50"]),
        "appliance with quotas/floor sequential p50": ratio(quotas["with"]["p50"], floor["sequential"]["p50"]),
    }


def collaboration_cost(floor: dict, bare: dict) -> dict:
    """What jupyter-collaboration's server extensions add to each server start, same run, starts taken in turn."""
    with_it, without_it = floor["sequential"], bare["sequential"]
    return {
        "sequential p50 ms": milliseconds(with_it["p50"], without_it["p50"]),
        "cpu-seconds p50": round(with_it["cpu_p50"] - without_it["cpu_p50"], 3)
        if with_it["cpu_p50"] is not None and without_it["cpu_p50"] is not None
        else None,
    }


def clean_after(floor: Floor, index: int, cpu_seconds: list[float]) -> float:
    seconds = floor.once(index, cpu_seconds)
    floor.clean()
    return seconds


def ratios(results: dict) -> dict:
    floor, appliance, stock = results["floor"], results["appliance"], results["stock"]
    direct = results["without broker"]
    return {
        **quota_ratios(results["quotas"], floor),
        "appliance without broker/floor sequential p50": ratio(direct["sequential"]["p50"], floor["sequential"]["p50"]),
        "appliance/appliance without broker burst makespan": ratio(
            appliance["burst"]["makespan"], direct["burst"]["makespan"]
        ),
        "appliance/floor sequential p50": ratio(appliance["sequential"]["p50"], floor["sequential"]["p50"]),
        "appliance/floor burst makespan": ratio(appliance["burst"]["makespan"], floor["burst"]["makespan"]),
        "appliance/floor burst p95": ratio(appliance["burst"]["p95"], floor["burst"]["p95"]),
        "appliance/stock sequential p50": ratio(appliance["sequential"]["p50"], stock["sequential"]["p50"]),
        "appliance/stock burst makespan": ratio(appliance["burst"]["makespan"], stock["burst"]["makespan"]),
        "stock/floor sequential p50": ratio(stock["sequential"]["p50"], floor["sequential"]["p50"]),
        "appliance/floor CPU-seconds to ready": ratio(
            appliance["sequential"]["cpu_p50"], floor["sequential"]["cpu_p50"]
        ),
        "appliance/stock CPU-seconds to ready": ratio(
            appliance["sequential"]["cpu_p50"], stock["sequential"]["cpu_p50"]
        ),
    }


def machine() -> dict:
    return {
        "host": platform.node(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3),
        "docker": docker_host.client().version()["Version"],
    }


def markdown(results: dict) -> str:
    sizes, m = results["sizes"], results["machine"]
    rows = [
        f"Run {results['run']} at {results['when']} on {m['cpus']} cores, {m['memory_gib']} GiB, Docker {m['docker']}.",
        "",
        f"| measurement | sequential p50 | sequential p95 | CPU-seconds to ready (p50) | burst of {sizes['burst']}: "
        "failures | burst p50 | burst p95 | burst makespan |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("floor", "appliance", "without broker", "stock"):
        seq, bur = results[name]["sequential"], results[name]["burst"]
        rows.append(
            f"| {name} | {fmt(seq['p50'])} | {fmt(seq['p95'])} | {seq['cpu_p50']} | {len(bur['failures'])} "
            f"| {fmt(bur['p50'])} "
            f"| {fmt(bur['p95'])} | {fmt(bur['makespan'])} |"
        )
    rows += ["", "| ratio (same run) | value |", "|---|---|"]
    rows += [f"| {name} | {value} |" for name, value in results["ratios"].items()]
    cost = results["broker_cost_ms"]
    paired = cost["sequential, paired"]
    rows += [
        "",
        f"The Docker broker's cost (appliance minus appliance without broker, same run): sequential p50 "
        f"{cost['sequential p50']} ms; over {paired['pairs']} starts taken in turn, the median difference is "
        f"{paired['median']} ms (95 % interval {paired['95% interval']}); burst makespan {cost['burst makespan']} ms "
        f"(median of {sizes['burst rounds']} bursts each, taken in turn; makespans with the broker "
        f"{seconds_list(results['appliance']['burst']['makespans'])}, without "
        f"{seconds_list(results['without broker']['burst']['makespans'])}).",
    ]
    collaboration, bare = results["collaboration_cost"], results["floor without collaboration"]["sequential"]
    rows += [
        "",
        f"Real-time collaboration's cost (the floor minus the floor without jupyter-collaboration's server "
        f"extensions, {bare['count']} starts each, taken in turn): sequential p50 {collaboration['sequential p50 ms']}"
        f" ms, CPU-seconds to ready p50 {collaboration['cpu-seconds p50']} (without it: p50 {fmt(bare['p50'])}, "
        f"{bare['cpu_p50']} CPU-seconds).",
    ]
    rows += ["", quota_line(results["quotas"])]
    appliance = results["appliance"]
    rows += ["", f"Login to JupyterLab, one user, no browser: {fmt(appliance['login_to_lab_seconds'])}.", ""]
    rows += ["| one appliance spawn | seconds |", "|---|---|"]
    rows += [f"| {step} | {seconds:.2f} |" for step, seconds in appliance["breakdown"].items()]
    rows += ["", "| RSS (MB) | " + " | ".join(appliance["rss_mb"]) + " |", "|---|" + "---|" * len(appliance["rss_mb"])]
    names = list(next(iter(appliance["rss_mb"].values())))
    for name in names:
        rows.append(f"| {name} | " + " | ".join(str(v.get(name, "-")) for v in appliance["rss_mb"].values()) + " |")
    rows += ["", "| image | size (MB) | cold build (s) |", "|---|---|---|"]
    builds = results["cold_build_seconds"] or {}
    for image, size in results["image_mb"].items():
        short = image.split("/")[-1].split(":")[0]
        rows.append(f"| {image} | {size} | {builds.get(short, '-')} |")
    return "\n".join(rows) + "\n"


def quota_line(quotas: dict) -> str:
    if "skipped" in quotas:
        return f"Disk quotas (USER_STORAGE_DIR) not measured: {quotas['skipped']}."
    with_it, without_it = quotas["with"], quotas["without"]
    return (
        f"Disk quotas (USER_STORAGE_DIR on btrfs), {with_it['count']} starts each taken in turn with the same "
        f"appliance without: sequential p50 {fmt(with_it['p50'])} against {fmt(without_it['p50'])}, "
        f"{with_it['cpu_p50']} against {without_it['cpu_p50']} CPU-seconds to ready (the ratios to the floor above)."
    )


def stamp_of(results: dict) -> str:
    return results["when"].replace(":", "").replace("-", "")[:15]


def write_results(folder: Path, name: str, latest: str, results: dict, table: str) -> str:
    """`<name>-<time>.json` and `.md` in the folder, the table as `latest` too; returns the time stamp."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = stamp_of(results)
    (folder / f"{name}-{stamp}.json").write_text(json.dumps(results, indent=2))
    (folder / f"{name}-{stamp}.md").write_text(table)
    (folder / latest).write_text(table)
    return stamp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--sequential", type=int, default=10, help="spawns one after another")
    parser.add_argument("--burst", type=int, default=20, help="users who start at once")
    parser.add_argument("--broker-pairs", type=int, default=100,
                        help="starts of the appliance and of the appliance without broker, taken in turn")  # fmt: skip
    parser.add_argument("--burst-rounds", type=int, default=4,
                        help="bursts of the appliance and of the appliance without broker, taken in turn")  # fmt: skip
    parser.add_argument("--no-cold-builds", action="store_true", help="skip the uncached image builds")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON and markdown")
    args = parser.parse_args(argv)
    started = time.monotonic()
    sizes = {
        "sequential": args.sequential,
        "broker pairs": args.broker_pairs,
        "burst": args.burst,
        "burst rounds": args.burst_rounds,
    }
    results = run(sizes, not args.no_cold_builds)
    results["bench_seconds"] = round(time.monotonic() - started)
    table = markdown(results)
    write_results(args.results, "bench", "latest.md", results, table)
    print(table)
    log(f"done in {results['bench_seconds']} s; written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
