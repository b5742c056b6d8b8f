"""HTTPS out of the box: a certificate from a real ACME server (pebble), or the admin's own."""

import io
import json
import re
import socket
import ssl

import pytest
import requests
from cryptography import x509
from testcontainers.core.container import DockerContainer

from harness.compose import ARTIFACTS, BASE_IMAGE, RUN_ID, TEST_RUN_LABEL, free_port, record_spawn
from harness.credentials import ADMIN_PASSWORD
from harness.hub_client import wait_until
from tests.certificates import CertificateAuthority

DOMAIN = "hub.appliance.test"
PEBBLE_IMAGE = "jupyterhub-appliance/e2e-pebble:latest"
PEBBLE_NAME = f"pebble-{RUN_ID}"
TLS_INSIDE = "/etc/appliance/tls"


@pytest.fixture(scope="module")
def resolve_domain_to_loopback():
    """Like a DNS record for the hub's domain, for this test process only."""
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return real("127.0.0.1" if host == DOMAIN else host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", resolve)
        yield


@pytest.fixture(scope="module")
def pebble_image(docker_client):
    dockerfile = (
        f"FROM {BASE_IMAGE}\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends pebble && rm -rf /var/lib/apt/lists/*\n"
    )
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=PEBBLE_IMAGE, rm=True)
    return PEBBLE_IMAGE


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory):
    """What compose/https.yml mounts at /etc/appliance/tls: pebble's API root, and a supplied certificate."""
    folder = tmp_path_factory.mktemp("tls")
    api_ca = CertificateAuthority.create("e2e pebble API CA")
    api_ca.write(folder / "pebble-api-root.pem")
    api_ca.issue(folder, "pebble-api", [PEBBLE_NAME, "localhost"], ips=("127.0.0.1",))
    own_ca = CertificateAuthority.create("e2e admin's own CA")
    own_ca.write(folder / "own-root.pem")
    own_ca.issue(folder, "own", [DOMAIN])
    config = {
        "pebble": {
            "listenAddress": "0.0.0.0:14000",
            "managementListenAddress": "0.0.0.0:15000",
            "certificate": "/pebble/pebble-api.pem",
            "privateKey": "/pebble/pebble-api-key.pem",
            "httpPort": 80,
            "tlsPort": 443,
        }
    }
    (folder / "pebble.json").write_text(json.dumps(config))
    folder.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def pebble(pebble_image, tls_dir):
    management_port = free_port()
    container = (
        DockerContainer(pebble_image)
        .with_name(PEBBLE_NAME)
        .with_volume_mapping(str(tls_dir), "/pebble", "ro")
        .with_env("PEBBLE_VA_ALWAYS_VALID", "1")
        .with_env("PEBBLE_VA_NOSLEEP", "1")
        .with_command("/pebble/pebble.json")
    )
    container.ports["15000/tcp"] = ("127.0.0.1", management_port)
    handle = {"container": container, "management": f"https://127.0.0.1:{management_port}"}
    yield handle
    container.stop()


@pytest.fixture(scope="module")
def acme_root(pebble, tls_dir, stack):
    """The root that pebble signs its certificates with, from its management API, as a client gets it."""
    api_root = str(tls_dir / "pebble-api-root.pem")

    def fetch_root() -> str:
        try:
            response = requests.get(f"{pebble['management']}/roots/0", verify=api_root, timeout=5)
        except requests.RequestException:
            return ""
        return response.text if response.ok else ""

    path = tls_dir / "acme-root.pem"
    path.write_text(wait_until(fetch_root, "pebble's management API", seconds=60))
    return path


def start_pebble_on(network: str, pebble) -> None:
    """pebble joins the stack's network once compose has created it, before the hub starts."""
    options = {"network": network, "labels": {TEST_RUN_LABEL: RUN_ID}, "entrypoint": ["pebble", "-config"]}
    pebble["container"].with_kwargs(**options).start()


def https_stack(stack_factory, tls_dir, env, ca_file, before_start=None):
    https_port, http_port = free_port(), free_port()
    stack = stack_factory(
        {
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DOMAIN": DOMAIN,
            "HTTPS_PORT": str(https_port),
            "HTTP_PORT": str(http_port),
            "TLS_DIR": str(tls_dir),
            **env,
        },
        overlays=("compose/https.yml",),
        url=f"https://{DOMAIN}:{https_port}",
        ca_file=str(ca_file),
        before_start=before_start,
        healthy=False,
    )
    stack.http_url = f"http://{DOMAIN}:{http_port}"
    return stack


@pytest.fixture(scope="module")
def stack(stack_factory, tls_dir, pebble, resolve_domain_to_loopback):
    env = {
        "ACME_DIRECTORY": f"https://{PEBBLE_NAME}:14000/dir",
        "ACME_CA_ROOT": f"{TLS_INSIDE}/pebble-api-root.pem",
        "ACME_EMAIL": "admin@appliance.test",
    }
    # pebble joins the project's network before the hub starts, so the first ACME order reaches it.
    return https_stack(
        stack_factory, tls_dir, env, tls_dir / "pebble-api-root.pem", lambda made: start_pebble_on(made.network, pebble)
    )


def served_certificate(url: str) -> x509.Certificate:
    host, port = url.removeprefix("https://").split(":")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def wait_for_https(stack, ca_file) -> None:
    """Wait until the hub answers over HTTPS with a certificate that ca_file vouches for."""
    stack.ca_file = str(ca_file)
    stack.wait_healthy()


# First, while pebble is not on the network yet: a stack that serves the admin's own certificate.
def test_a_supplied_certificate_is_served(stack_factory, tls_dir, resolve_domain_to_loopback):
    own = https_stack(
        stack_factory,
        tls_dir,
        {"TLS_CERT": f"{TLS_INSIDE}/own.pem", "TLS_KEY": f"{TLS_INSIDE}/own-key.pem"},
        tls_dir / "own-root.pem",
    )
    wait_for_https(own, tls_dir / "own-root.pem")
    certificate = served_certificate(own.url)
    assert certificate.issuer.rfc4514_string() == "CN=e2e admin's own CA"
    admin = own.client_for().login("admin", ADMIN_PASSWORD)
    assert admin.whoami() == "admin"


def test_the_appliance_obtains_a_certificate_from_the_acme_server(stack, acme_root):
    wait_for_https(stack, acme_root)
    certificate = served_certificate(stack.url)
    issuer = certificate.issuer.rfc4514_string()
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    subject = certificate.subject.rfc4514_string()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "acme-certificate.txt").write_text(f"issuer: {issuer}\nsubject: {subject}\n")
    assert "Pebble Intermediate CA" in issuer
    assert names.get_values_for_type(x509.DNSName) == [DOMAIN]


def test_https_login_spawn_and_kernel_websocket_over_tls(stack, acme_root):
    wait_for_https(stack, acme_root)
    admin = stack.client_for().login("admin", ADMIN_PASSWORD)
    assert admin.session.cookies.get("jupyterhub-session-id") is not None
    record_spawn(admin.ensure_running())
    admin.create_notebook("tls.ipynb")
    kernel = admin.start_kernel("tls.ipynb")
    assert kernel.connection.sock.version().startswith("TLS")
    assert kernel.run("print(6 * 7)") == "42"
    kernel.close()


def test_caddy_runs_as_its_own_account_on_unprivileged_ports(stack, acme_root):
    wait_for_https(stack, acme_root)
    uids = {args: uid for _, uid, args in stack.hub_container().top(ps_args="-o pid,uid,args")["Processes"]}
    caddy = [uid for args, uid in uids.items() if args.startswith("caddy run")]
    assert caddy == ["999"], uids  # the caddy account of the hub image
    ports = stack.hub_container().attrs["HostConfig"]["PortBindings"]
    assert set(ports) == {"8080/tcp", "8443/tcp"}


# Generated and stored at the first start (ADMIN_PASSWORD is given explicitly here).
STORED_SECRETS = ("cookie_secret", "proxy_auth_token", "crypt_key")


def test_the_internet_facing_processes_hold_none_of_the_hubs_secrets(stack, acme_root):
    """The proxy gets its API token and nothing else of the hub's; Caddy nothing; the files are the hub's alone."""
    wait_for_https(stack, acme_root)
    hub = stack.hub_container()
    secrets = {name: in_hub(hub, "cat", f"/data/secrets/{name}") for name in STORED_SECRETS}
    secrets["admin_password"] = ADMIN_PASSWORD
    for account, program in (("proxy", "configurable-http-proxy"), ("caddy", "caddy")):
        environment = environ_of(hub, account, program)
        held = {name for name, value in secrets.items() if value in environment}
        assert held == ({"proxy_auth_token"} if account == "proxy" else set()), (account, held)
    modes = in_hub(hub, "stat", "-c", "%n %a %U", "/data/secrets", *(f"/data/secrets/{n}" for n in STORED_SECRETS),
                   "/data/jupyterhub.sqlite")  # fmt: skip
    assert modes.split("\n") == [
        "/data/secrets 700 root",
        *(f"/data/secrets/{name} 600 root" for name in STORED_SECRETS),
        "/data/jupyterhub.sqlite 600 root",
    ]


def in_hub(hub, *command: str, user: str = "root") -> str:
    code, output = hub.exec_run(list(command), user=user)
    assert code == 0, output
    return output.decode().strip()


# Run in the hub container as the process's own account (only it, or CAP_SYS_PTRACE, may read an environ):
# the environment of the process whose program (first or second word: node runs the proxy) is argv[1].
ENVIRON_OF = """
import os, sys
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        words = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")[:2]
        if any(os.path.basename(word.decode()) == sys.argv[1] for word in words):
            print(open(f"/proc/{pid}/environ", "rb").read().replace(b"\\0", b"\\n").decode())
    except OSError:
        pass
"""


def environ_of(hub, account: str, program: str) -> str:
    environment = in_hub(hub, "python3", "-c", ENVIRON_OF, program, user=account)
    assert "PATH=" in environment, f"no environment of {program} read"
    return environment


def test_over_https_the_hub_logs_the_client_not_the_tls_front(stack, acme_root):
    wait_for_https(stack, acme_root)
    spoofed = {"X-Real-Ip": "203.0.113.9"}
    requests.get(f"{stack.url}/hub/login?next=%2Fhttps-client", headers=spoofed, verify=str(acme_root), timeout=30)
    [line] = [line for line in stack.logs().splitlines() if "https-client" in line and "GET /hub/login" in line]
    [network] = stack.hub_container().attrs["NetworkSettings"]["Networks"].values()
    # Through a published port, the hub's container sees the connection come from the network's gateway
    # (the proxy, in Node, writes it in IPv6-mapped form).
    assert re.search(rf"@(::ffff:)?{re.escape(network['Gateway'])}\)", line), line
    assert "203.0.113." not in line and "@127.0.0.1)" not in line


def test_plain_http_redirects_to_https_and_hsts_is_set(stack, acme_root):
    wait_for_https(stack, acme_root)
    redirect = requests.get(f"{stack.http_url}/hub/login", allow_redirects=False, timeout=10)
    assert redirect.status_code in (301, 308)
    assert redirect.headers["Location"] == f"https://{DOMAIN}/hub/login"
    page = requests.get(f"{stack.url}/hub/login", verify=str(acme_root), timeout=10)
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_a_hub_restart_reuses_the_certificate(stack, acme_root):
    wait_for_https(stack, acme_root)
    before = served_certificate(stack.url).serial_number
    stack.run_compose("restart", "hub")
    wait_for_https(stack, acme_root)
    assert served_certificate(stack.url).serial_number == before
    assert "certificate obtained successfully" not in stack.logs().rsplit("supervisord started", 1)[-1]
