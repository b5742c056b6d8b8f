"""OpenLDAP (Debian's slapd) as a container: StartTLS on a certificate the test makes, users and groups
seeded by the test; on the appliance network for the hub, published on loopback for seeding."""

import io
from pathlib import Path

import ldap3
from testcontainers.core.container import DockerContainer

from harness.compose import BASE_IMAGE
from harness.hub_client import wait_until
from tests.certificates import CertificateAuthority

IMAGE = "jupyterhub-appliance/e2e-openldap:latest"
DOCKERFILE = f"""FROM {BASE_IMAGE}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd ldap-utils \\
 && rm -rf /var/lib/apt/lists/* && mkdir /var/lib/ldap-e2e
ENTRYPOINT ["slapd", "-f", "/e2e/slapd.conf", "-d", "0"]
"""
SUFFIX = "dc=example,dc=org"
ROOT_DN, ROOT_PASSWORD = f"cn=admin,{SUFFIX}", "e2e-directory-admin-password"
PEOPLE, GROUPS = f"ou=people,{SUFFIX}", f"ou=groups,{SUFFIX}"
SLAPD_CONF = f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile /e2e/ca.pem
TLSCertificateFile /e2e/ldap.pem
TLSCertificateKeyFile /e2e/ldap-key.pem
database mdb
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory /var/lib/ldap-e2e
access to attrs=userPassword by anonymous auth by self write by * none
access to * by * read
"""


def build_image(client) -> str:
    client.images.build(fileobj=io.BytesIO(DOCKERFILE.encode()), tag=IMAGE, rm=True)
    return IMAGE


def user_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


def group_dn(cn: str) -> str:
    return f"cn={cn},{GROUPS}"


class LdapServer:
    def __init__(self, name: str, port: int, folder: Path, labels: dict[str, str]):
        self.name, self.port, self.folder, self.labels = name, port, folder, labels
        self.url = f"ldap://{name}:{port}"
        ca = CertificateAuthority.create("e2e directory CA")
        self.ca_file = ca.write(folder / "ca.pem")
        _, key = ca.issue(folder, "ldap", [name])
        key.chmod(0o644)  # slapd reads it from the mounted folder
        (folder / "slapd.conf").write_text(SLAPD_CONF)
        folder.chmod(0o755)
        self.container = None

    def start(self, network: str) -> "LdapServer":
        self.container = (
            DockerContainer(IMAGE)
            .with_name(self.name)
            .with_volume_mapping(str(self.folder), "/e2e", "ro")
            .with_kwargs(network=network, labels=self.labels, hostname=self.name)
        )
        # slapd listens on the port the hub uses; published on loopback only, for seeding.
        self.container.with_command(["-h", f"ldap://:{self.port}/"])
        self.container.ports[f"{self.port}/tcp"] = ("127.0.0.1", self.port)
        self.container.start()
        wait_until(self.answers, f"slapd at 127.0.0.1:{self.port}", seconds=60)
        return self

    def connection(self) -> ldap3.Connection:
        server = ldap3.Server("127.0.0.1", port=self.port, connect_timeout=2)
        return ldap3.Connection(server, user=ROOT_DN, password=ROOT_PASSWORD, auto_bind=True)

    def answers(self) -> bool:
        try:
            self.connection().unbind()
            return True
        except ldap3.core.exceptions.LDAPException:
            return False

    def seed(self, users: dict[str, str], groups: dict[str, list[str]], service: tuple[str, str]) -> None:
        """Users (uid: password), groups (cn: member uids) and the hub's own search account (cn, password)."""
        connection = self.connection()
        add = [
            (SUFFIX, ["dcObject", "organization"], {"o": "Example Lab", "dc": "example"}),
            (PEOPLE, ["organizationalUnit"], {"ou": "people"}),
            (GROUPS, ["organizationalUnit"], {"ou": "groups"}),
            (f"cn={service[0]},{SUFFIX}", ["organizationalRole", "simpleSecurityObject"], {"userPassword": service[1]}),
        ]
        for uid, password in users.items():
            attributes = {"cn": uid, "sn": uid, "uid": uid, "userPassword": password}
            add.append((user_dn(uid), ["inetOrgPerson"], attributes))
        for cn, members in groups.items():
            add.append((group_dn(cn), ["groupOfNames"], {"cn": cn, "member": [user_dn(uid) for uid in members]}))
        for dn, classes, attributes in add:
            assert connection.add(dn, classes, attributes), (dn, connection.result)
        connection.unbind()

    def stop(self) -> None:
        if self.container is not None:
            self.container.stop()
