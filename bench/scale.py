"""`make bench-scale`: how many idle users one machine holds, and how the hub behaves as servers pile up.

In one run, for the appliance and then for the stock hub (bench/stock_jupyterhub_config.py, same user image),
idle servers are started through the REST API in waves until each checkpoint (10, 50, 100, 200 by default;
fewer when the machine's free memory runs short). At each checkpoint it measures:
- each idle server's memory, from the engine's stats (working set as `docker stats` shows it, and anon);
- hub, proxy and supervisord RSS;
- REST API latency p50/p95 of `GET /hub/api/users` and of a proxied `GET /user/<name>/api/status`,
  under concurrent clients;
- one reconcile pass (appliance only) and one culler pass (jupyterhub-idle-culler, nothing old enough to cull).
At the largest checkpoint, the hub is restarted and timed until every route answers again. Before the
servers pile up, one server's memory is taken apart: a bare `jupyter server`, the image's extensions one by
one, the hub's single-user server, and a running kernel.
Writes bench/results/scale-<time>.json, .md and .png, both hubs' logs, and latest-scale.md. Free memory is
read from this machine's /proc/meminfo: run it where the engine runs.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests
import websocket

from appliance import docker_host
from appliance.layout import HUB_PORT_INSIDE
from appliance.reconcile import active_servers
from bench import engine_stats, plots
from bench.run import (
    BENCH_LABEL,
    RESULTS,
    RUN,
    SERVER_PORT,
    HubApi,
    appliance_hub,
    http_ok,
    log,
    machine,
    rss_megabytes,
    stamp_of,
    stamped_lines,
    stock_hub,
    write_results,
)
from harness.compose import SINGLEUSER_IMAGE
from harness.hub_client import Kernel, wait_until

RESTART_DEADLINE_SECONDS = 300
RESTART_ROUNDS = 1000
ROUND_PAUSE_SECONDS = 0.1
PROBE_THREADS = 10

RECONCILE_PASS = """
import os, time
from appliance import docker_host
from appliance.layout import HUB_PORT_INSIDE
from appliance.reconcile import reconcile_once
client = docker_host.client()
started = time.monotonic()
reconcile_once(client, os.environ["APPLIANCE_INSTANCE"], False, f"http://127.0.0.1:{HUB_PORT_INSIDE}/hub/api",
               os.environ["BENCH_TOKEN"])
print("PASS_SECONDS", time.monotonic() - started)
"""

CULLER_PASS = """
import asyncio, logging, os, sys, time
from jupyterhub_idle_culler import cull_idle
started = time.monotonic()
asyncio.run(cull_idle(sys.argv[1], os.environ["BENCH_TOKEN"], inactive_limit=10**9, logger=logging.getLogger()))
print("PASS_SECONDS", time.monotonic() - started)
"""


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def spread(values: list[float]) -> dict:
    rounded = lambda value: None if value is None else round(value, 1)  # noqa: E731
    return {
        "p50": rounded(percentile(values, 0.5)),
        "p95": rounded(percentile(values, 0.95)),
        "mean": rounded(statistics.fmean(values)) if values else None,
        "count": len(values),
    }


# -- one kind of hub under test -------------------------------------------------------------------
@dataclass
class Target:
    """A hub with its users: how to start servers, reach them, restart the hub and run its passes."""

    name: str
    api: HubApi
    hub_container: object
    hub_api_inside: str  # the hub's API as a process in the hub container reaches it
    users: list[str]
    restart: Callable[[], object]
    servers: Callable[[], list]  # the running user-server containers
    logs: Callable[[], str]  # the hub's log
    running: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def status_url(self, user: str) -> str:
        return f"{self.api.base_url}/user/{user}/api/status"


def fill_to(target: Target, count: int, wave: int, min_free_mb: float) -> bool:
    """Start idle servers in waves of `wave` at once until `count` run; False when memory ran short first."""
    while len(target.running) < count:
        if engine_stats.host_available_mb() < min_free_mb:
            log(f"{target.name}: stopping at {len(target.running)} servers, less than {min_free_mb:.0f} MB free")
            return False
        batch = target.users[len(target.running) + len(target.failures) :][: min(wave, count - len(target.running))]
        if not batch:
            return False
        with ThreadPoolExecutor(len(batch)) as pool:
            outcomes = list(pool.map(lambda user: started_or_error(target, user), batch))
        for user, error in zip(batch, outcomes, strict=True):
            if error:
                target.failures.append(f"{user}: {error}"[:300])
            else:
                target.running.append(user)
        log(f"{target.name}: {len(target.running)} servers running, {len(target.failures)} failed to start")
    return True


def started_or_error(target: Target, user: str) -> str:
    try:
        target.api.start_until_ready(user)
        return ""
    except Exception as error:  # a failed start is a figure, not the end of the bench
        return f"{type(error).__name__}: {error}"


# -- figures at one checkpoint --------------------------------------------------------------------
def latency_ms(urls: list[str], token: str, clients: int, per_client: int) -> dict:
    """`clients` threads, each with its own session, each making `per_client` requests round the urls."""
    timings, errors, lock = [], [], threading.Lock()

    def client_loop(offset: int):
        session = requests.Session()
        session.trust_env = False
        session.headers["Authorization"] = f"token {token}"
        for index in range(per_client):
            url = urls[(offset + index) % len(urls)]
            started = time.monotonic()
            try:
                status = session.get(url, timeout=30).status_code
            except requests.RequestException as error:
                status = type(error).__name__
            with lock:
                if status == 200:
                    timings.append((time.monotonic() - started) * 1000)
                else:
                    errors.append(f"{url}: {status}")

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client_loop, range(clients)))
    return {**spread(timings), "errors": len(errors), "first_errors": errors[:3]}


def pass_seconds(container, script: str, token: str, *args: str) -> float | None:
    result = container.exec_run(["python3", "-c", script, *args], environment={"BENCH_TOKEN": token})
    for line in result.output.decode(errors="replace").splitlines():
        if line.startswith("PASS_SECONDS "):
            return round(float(line.split()[1]), 3)
    log(f"a pass in {container.name} gave no figure (exit {result.exit_code}): {result.output[-300:]!r}")
    return None


def checkpoint(target: Target, token: str, args, available_before_mb: float, reconcile: bool) -> dict:
    memory = engine_stats.memory_of_all(target.servers())
    count = len(target.running)
    users_url = f"{target.api.base_url}/hub/api/users"
    figures = {
        "servers": count,
        "server_working_set_mb": spread([m["working_set"] for m in memory]),
        "server_anon_mb": spread([m["anon"] for m in memory]),
        "host_mb_per_server": round((available_before_mb - engine_stats.host_available_mb()) / max(count, 1), 1),
        "rss_mb": rss_megabytes(target.hub_container),
        "users_api_ms": latency_ms([users_url], token, args.clients, args.requests),
        "proxied_status_ms": latency_ms(
            [target.status_url(user) for user in target.running], token, args.clients, args.requests
        ),
        "culler_pass_seconds": pass_seconds(target.hub_container, CULLER_PASS, token, target.hub_api_inside),
        "reconcile_pass_seconds": pass_seconds(target.hub_container, RECONCILE_PASS, token) if reconcile else None,
    }
    log(f"{target.name} at {count}: {summary_line(figures)}")
    return figures


def summary_line(figures: dict) -> str:
    return (
        f"server {figures['server_working_set_mb']['p50']} MB, "
        f"hub+proxy+supervisord {figures['rss_mb']['hub + proxy + supervisord']} MB, "
        f"users API p95 {figures['users_api_ms']['p95']} ms, proxied p95 {figures['proxied_status_ms']['p95']} ms"
    )


def restart_until_routes_answer(target: Target, token: str) -> dict:
    """Restart the hub; seconds until /hub/health answers and until every server still running answers through
    the proxy. Servers the hub stopped on its way down (stock JupyterHub's cleanup_servers) are counted apart."""
    started, wall_clock = time.monotonic(), time.time()
    target.restart()
    restarted = time.monotonic() - started
    wait_until(lambda: http_ok(f"{target.api.base_url}/hub/health"), f"the {target.name} hub after its restart", 300)
    health = time.monotonic() - started
    active = {user for user, _ in active_servers(f"{target.api.base_url}/hub/api", token)}
    stopped = set(target.running) - active
    never_answered, all_answered_at = probe_until_all_answer(target, sorted(active & set(target.running)), token)
    figures = {
        "servers": len(target.running),
        "restart_command_seconds": round(restarted, 2),
        "hub_health_seconds": round(health, 2),
        "all_routes_seconds": round(all_answered_at - started, 2) if all_answered_at else None,
        "stopped_by_the_hub": len(stopped),
        "never_answered": never_answered[:10],
        "hub_log_seconds": restart_timeline(target.logs(), wall_clock),
    }
    target.running = [user for user in target.running if user not in stopped]
    log(f"{target.name} restart: {figures}")
    return figures


def probe_until_all_answer(target: Target, users: list[str], token: str) -> tuple[list[str], float | None]:
    """Rounds of proxied requests to the users' servers until each has answered once, within
    RESTART_DEADLINE_SECONDS; returns those that never did, and when the last one answered (None: not all did)."""
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"token {token}"

    def answers(user: str) -> bool:
        try:
            return session.get(target.status_url(user), timeout=5).status_code == 200
        except requests.RequestException:
            return False

    pending, deadline = list(users), time.monotonic() + RESTART_DEADLINE_SECONDS
    for _ in range(RESTART_ROUNDS):
        with ThreadPoolExecutor(PROBE_THREADS) as pool:
            pending = [user for user, ok in zip(pending, pool.map(answers, pending), strict=True) if not ok]
        if not pending:
            return [], time.monotonic() if users else None
        if time.monotonic() > deadline:
            break
        time.sleep(ROUND_PAUSE_SECONDS)  # pacing between rounds of probes
    return pending, None


RESTART_MARKS = {
    "spawners checked": "spawners in",  # JupyterHub's "Initialized N spawners in S seconds"
    "hub API listening": "Hub API listening on",
    "routes checked, hub running": "JupyterHub is now running",
}


def restart_timeline(logs: str, since: float) -> dict[str, float]:
    """Seconds from the restart to each of JupyterHub's start-up milestones, from its log lines after `since`."""
    found = {}
    for at, line in stamped_lines(logs):
        for mark, text in RESTART_MARKS.items():
            if at >= since and text in line and mark not in found:
                found[mark] = round(at - since, 2)
    return found


def measure(target: Target, token: str, args, reconcile: bool) -> dict:
    available_before = engine_stats.host_available_mb()
    points, complete = [], True
    for count in args.checkpoints:
        complete = fill_to(target, count, args.wave, args.min_free_mb)
        if target.running and (not points or points[-1]["servers"] < len(target.running)):
            points.append(checkpoint(target, token, args, available_before, reconcile))
        if not complete:
            break
    return {
        "checkpoints": points,
        "largest": len(target.running),
        "memory_ran_short": not complete,
        "start_failures": target.failures,
        "restart": restart_until_routes_answer(target, token) if target.running else None,
        "hub_log": target.logs(),  # written beside the results, not into the JSON
    }


# -- the appliance and the stock hub --------------------------------------------------------------
def user_names(prefix: str, args) -> list[str]:
    """Enough names for the largest checkpoint plus one wave's worth of failed starts."""
    return [f"{prefix}{index:03d}" for index in range(1, max(args.checkpoints) + args.wave + 1)]


def measure_appliance(client, args, workdir: Path) -> dict:
    users = user_names("s", args)
    with appliance_hub(client, workdir, users, {"MEM_LIMIT": args.mem_limit}, "bench-scale") as (stack, api):
        target = Target(
            "appliance",
            api,
            stack.hub_container(),
            f"http://127.0.0.1:{HUB_PORT_INSIDE}/hub/api",
            users,
            restart=lambda: stack.run_compose("restart", "hub"),
            servers=lambda: [c for c in stack.user_containers() if c.status == "running"],
            logs=stack.logs,
        )
        fill_to(target, 1, 1, args.min_free_mb)
        kernel = kernel_memory(target, api.token)
        return {**measure(target, api.token, args, reconcile=True), "kernel": kernel}


def measure_stock(client, args, network: str) -> dict:
    users = user_names("scale", args)
    with stock_hub(client, network, "scale") as (hub, api):
        api.create_users(users)
        target = Target(
            "stock",
            api,
            hub,
            "http://jupyterhub:8080/hub/api",  # the stock hub listens on its network alias only
            users,
            restart=hub.restart,
            servers=lambda: [
                c for c in client.containers.list(filters={"label": f"{BENCH_LABEL}={RUN}"}) if c.id != hub.id
            ],
            logs=lambda: hub.logs().decode(errors="replace"),
        )
        return measure(target, api.token, args, reconcile=False)


def kernel_memory(target: Target, token: str) -> dict:
    """What one Python kernel adds to a server's memory (its first user's), once it has run a line of code."""
    [container] = target.servers()
    before = engine_stats.memory_mb(engine_stats.snapshot(container))
    kernels = f"{target.api.base_url}/user/{target.running[0]}/api/kernels"
    kernel_id = target.api.session.post(kernels, json={"name": "python3"}, timeout=60).json()["id"]
    channels = f"ws{kernels.removeprefix('http')}/{kernel_id}/channels?session_id={uuid.uuid4().hex}"
    kernel = Kernel(
        kernel_id, websocket.create_connection(channels, header=[f"Authorization: token {token}"], timeout=60)
    )
    try:
        assert kernel.run("print(6 * 7)") == "42"
        after = engine_stats.memory_mb(engine_stats.snapshot(container))
    finally:
        kernel.close()
        target.api.session.delete(f"{kernels}/{kernel_id}", timeout=30)
    return {key: round(after[key] - before[key], 1) for key in before}


# -- one server's memory, taken apart -------------------------------------------------------------
EXTENSIONS = (
    "jupyterlab",
    "notebook",
    "jupyter_lsp",
    "jupyter_server_terminals",
    "jupyter_resource_usage",
    "nbgitpuller",
)


def server_variants() -> dict[str, list[str]]:
    """`jupyter server` commands of the user image: bare, with every extension, and without each one."""

    def server(disabled: tuple[str, ...]) -> list[str]:
        flags = [f"--ServerApp.jpserver_extensions={name}=False" for name in disabled]
        return ["jupyter", "server", "--ip=0.0.0.0", f"--port={SERVER_PORT}", "--IdentityProvider.token=", *flags]

    variants = {
        "bare jupyter server (no extensions)": server((*EXTENSIONS, "notebook_shim")),
        "jupyter server with the image's extensions": server(()),
    }
    variants.update({f"without {name}": server((name,)) for name in EXTENSIONS})
    return variants


def memory_breakdown(client, network: str) -> dict[str, dict[str, float]]:
    """Each variant started alone on the bench network; its memory once it answers."""
    found = {}
    for name, command in server_variants().items():
        container = client.containers.run(
            SINGLEUSER_IMAGE, command, detach=True, network=network, labels={BENCH_LABEL: RUN}
        )
        try:
            container.reload()
            url = f"http://{container.attrs['NetworkSettings']['Networks'][network]['IPAddress']}:{SERVER_PORT}/api"
            wait_until(lambda url=url: http_ok(url), f"the server {name!r}", every=0.1)
            found[name] = engine_stats.memory_mb(engine_stats.snapshot(container))
        finally:
            container.remove(force=True)
    log(f"one server's memory: {found}")
    return found


# -- the run --------------------------------------------------------------------------------------
def run(args) -> dict:
    client = docker_host.client()
    network = client.networks.create(f"appliance-bench-{RUN}", labels={BENCH_LABEL: RUN})
    try:
        breakdown = memory_breakdown(client, network.name)
        with tempfile.TemporaryDirectory() as workdir:
            appliance = measure_appliance(client, args, Path(workdir))
        stock = None if args.no_stock else measure_stock(client, args, network.name)
    finally:
        network.remove()
    return {
        "run": RUN,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {key: getattr(args, key) for key in ("checkpoints", "wave", "mem_limit", "clients", "requests")},
        "memory_breakdown": breakdown,
        "appliance": appliance,
        "stock": stock,
    }


def markdown(results: dict) -> str:
    m, settings = results["machine"], results["settings"]
    rows = [
        f"Run {results['run']} at {results['when']} on {m['cpus']} cores, {m['memory_gib']} GiB, Docker {m['docker']}; "
        f"idle servers started {settings['wave']} at a time, MEM_LIMIT={settings['mem_limit']} (appliance); "
        f"latency under {settings['clients']} concurrent clients, {settings['requests']} requests each.",
        "",
        "| hub | servers | server MB (p50 working set / anon) | host MB per server | hub + proxy + supervisord MB "
        "| users API p50 / p95 ms | proxied status p50 / p95 ms | reconcile pass s | culler pass s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("appliance", "stock"):
        for point in (results[name] or {}).get("checkpoints", []):
            users, proxied = point["users_api_ms"], point["proxied_status_ms"]
            server = f"{point['server_working_set_mb']['p50']} / {point['server_anon_mb']['p50']}"
            rows.append(
                f"| {name} | {point['servers']} | {server} "
                f"| {point['host_mb_per_server']} | {point['rss_mb']['hub + proxy + supervisord']} "
                f"| {users['p50']} / {users['p95']} | {proxied['p50']} / {proxied['p95']} "
                f"| {point['reconcile_pass_seconds'] if point['reconcile_pass_seconds'] is not None else '-'} "
                f"| {point['culler_pass_seconds']} |"
            )
    rows += [
        "",
        "| hub restart | servers | command returned s | /hub/health s | every route answers s | stopped by the hub |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("appliance", "stock"):
        restart = (results[name] or {}).get("restart")
        if restart:
            every_route = restart["all_routes_seconds"]
            rows.append(
                f"| {name} | {restart['servers']} | {restart['restart_command_seconds']} "
                f"| {restart['hub_health_seconds']} | {'never' if every_route is None else every_route} "
                f"| {restart['stopped_by_the_hub']} |"
            )
    rows += ["", "| one server, alone (user image) | working set MB | anon MB |", "|---|---|---|"]
    rows += [f"| {name} | {mb['working_set']} | {mb['anon']} |" for name, mb in results["memory_breakdown"].items()]
    kernel = results["appliance"]["kernel"]
    rows += ["", f"One idle Python kernel adds {kernel['working_set']} MB (working set), {kernel['anon']} MB anon."]
    for name in ("appliance", "stock"):
        part = results[name]
        if part and (part["memory_ran_short"] or part["start_failures"]):
            rows.append(f"{name}: largest {part['largest']}; {len(part['start_failures'])} starts failed.")
    return "\n".join(rows) + "\n"


def checkpoints(text: str) -> list[int]:
    values = sorted({int(value) for value in text.split(",")})
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("checkpoints are positive server counts, like 10,50,100,200")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=checkpoints, default=checkpoints("10,50,100,200"))
    parser.add_argument("--wave", type=int, default=10, help="servers started at once")
    parser.add_argument("--mem-limit", default="256M", help="the appliance's MEM_LIMIT for the servers")
    parser.add_argument("--clients", type=int, default=10, help="concurrent clients for the latency figures")
    parser.add_argument("--requests", type=int, default=20, help="requests per client and figure")
    parser.add_argument("--min-free-mb", type=float, default=2048, help="stop adding servers below this MemAvailable")
    parser.add_argument("--no-stock", action="store_true", help="skip the stock hub")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON, markdown and plot")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = run(args)
    results["bench_seconds"] = round(time.monotonic() - started)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = stamp_of(results)
    for hub in ("appliance", "stock"):
        if results[hub]:
            (args.results / f"scale-{stamp}-{hub}-hub.log").write_text(results[hub].pop("hub_log"))
    table = markdown(results)
    write_results(args.results, "scale", "latest-scale.md", results, table)
    plots.scale_plot(results, args.results / f"scale-{stamp}.png")
    print(table)
    log(f"done in {results['bench_seconds']} s; written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
