"""The type of each setting's value, generated from the declarations by `appliance docs --write`."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from appliance.network_kinds import EgressRule
    from appliance.profiles.model import ProfilesFile
    from appliance.storage.backup_kinds import Repository, Retention, Schedule


class SettingValues(TypedDict):
    SPAWNER_MODE: str
    PUBLIC_URL: str | None
    LOG_LEVEL: str
    AUTH_MODE: str
    ADMIN_USERS: tuple[str, ...] | None
    ADMIN_PASSWORD: str | None
    ALLOWED_USERS: tuple[str, ...] | None
    LOGIN_ATTEMPTS: int
    ADDRESS_LOGIN_ATTEMPTS: int
    LOCKOUT_SECONDS: int
    OAUTH_CALLBACK_URL: str | None
    ALLOW_ALL: bool
    ALLOWED_GROUPS: tuple[str, ...] | None
    ADMIN_GROUPS: tuple[str, ...] | None
    USER_PASSWORD: str | None
    OPEN_SIGNUP: bool
    MIN_PASSWORD_LENGTH: int
    GITHUB_CLIENT_ID: str | None
    GITHUB_CLIENT_SECRET: str | None
    ALLOWED_ORGANIZATIONS: tuple[str, ...] | None
    ADMIN_TEAMS: tuple[str, ...] | None
    GITHUB_URL: str
    GITHUB_SCOPES: tuple[str, ...]
    EXPOSE_GITHUB_TOKEN: bool
    OIDC_ISSUER: str | None
    OIDC_CLIENT_ID: str | None
    OIDC_CLIENT_SECRET: str | None
    OIDC_SCOPES: tuple[str, ...]
    OIDC_USERNAME_CLAIM: str
    OIDC_GROUPS_CLAIM: str
    OIDC_CLAIMS_FROM: str
    OIDC_CA_CERT: str | None
    OIDC_WAIT_SECONDS: int
    LDAP_URL: str | None
    LDAP_CA_CERT: str | None
    LDAP_ALLOW_PLAINTEXT: bool
    LDAP_BIND_DN_TEMPLATE: str | None
    LDAP_SEARCH_BASE: str | None
    LDAP_USERNAME_ATTRIBUTE: str
    LDAP_SEARCH_FILTER: str | None
    LDAP_BIND_USER: str | None
    LDAP_BIND_PASSWORD: str | None
    LDAP_ALLOWED_GROUPS: tuple[str, ...] | None
    LDAP_ADMIN_GROUPS: tuple[str, ...] | None
    LTI_ISSUER: str | None
    LTI_CLIENT_ID: tuple[str, ...] | None
    LTI_AUTHORIZE_URL: str | None
    LTI_JWKS_URL: str | None
    LTI_USERNAME_CLAIM: str
    LTI_DEPLOYMENT_IDS: tuple[str, ...] | None
    LTI_PLATFORM_ORIGINS: tuple[str, ...] | None
    SINGLEUSER_IMAGE: str
    ALLOWED_IMAGES: tuple[str, ...] | None
    PULL_AHEAD: bool
    PROFILES_FILE: ProfilesFile | None
    CONTAINER_NAMES: str | None
    USER_VOLUME_HOLDS: str | None
    USER_VOLUME: str | None
    DELETED_USER_DATA: str
    SHARING: str
    COLLABORATION: str
    ASSISTANT_GROUPS: tuple[str, ...] | None
    BACKUP_REPOSITORY: Repository | None
    BACKUP_PASSWORD: str | None
    BACKUP_S3_ACCESS_KEY_ID: str | None
    BACKUP_S3_SECRET_ACCESS_KEY: str | None
    BACKUP_SCHEDULE: Schedule | None
    BACKUP_KEEP: Retention
    BACKUP_SHARED_VOLUMES: bool
    MEM_LIMIT: str
    CPU_LIMIT: float
    PIDS_LIMIT: int
    READ_ONLY_ROOTFS: bool
    SERVER_START_TIMEOUT: int
    IDLE_TIMEOUT: int
    NAMED_SERVERS: int
    DOMAIN: str | None
    ACME_EMAIL: str | None
    ACME_DIRECTORY: str
    ACME_CA_ROOT: str | None
    TLS_CERT: str | None
    TLS_KEY: str | None
    HTTPS_PORT: int
    HTTP_PORT: int
    DOCKER_HOST: str | None
    DOCKER_BROKER: str
    DOCKER_TLS_VERIFY: str | None
    DOCKER_CERT_PATH: str | None
    DOCKER_NETWORK: str
    USER_NETWORK_ISOLATION: str
    USER_EGRESS: str
    USER_EGRESS_ALLOW: tuple[EgressRule, ...] | None
    APPLIANCE_INSTANCE: str
    UNKNOWN_CONTAINERS: str
    IMAGE_REGISTRY: str
    APPLIANCE_VERSION: str
    HUB_BIND: str
    HUB_PORT: int
    USER_STORAGE_DIR: str | None
    USER_DISK_QUOTA: str | None
    DATA_DIR: str
    DATABASE_URL: str
    DATABASE_PASSWORD_FILE: str | None
    DATABASE_WAIT_SECONDS: int
    JPY_COOKIE_SECRET: str | None
    CONFIGPROXY_AUTH_TOKEN: str | None
    JUPYTERHUB_CRYPT_KEY: str | None
    METRICS_TOKEN: str | None
    HOME_FORMAT: str
    CREATE_HOMES: bool
    SYSTEM_MIN_UID: int
    SYSTEM_USERS_GROUP: str | None
    HOST_PASSWD_FILE: str
    HOST_GROUP_FILE: str
    SWARM_PLACEMENT: tuple[str, ...] | None
    SWARM_OVERLAY: str
    MEM_RESERVATION: str | None
    CPU_RESERVATION: float | None
    VOLUME_DRIVER: str | None
    VOLUME_DRIVER_OPTIONS: tuple[str, ...] | None
    SWARM_HOMES: str | None
