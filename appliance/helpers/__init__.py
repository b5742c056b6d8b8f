"""Programs run in short-lived helper containers of the appliance's own image: `python -m appliance.helpers.NAME`.

The entrypoints of the helpers that hold a capability or see the host are declared here, once: the code that
starts them and the Docker broker's policy (appliance.broker.policy), which lets only these through, use them.
"""

# Replaces the filter tables in a server's network namespace (NET_ADMIN); the rules come in the environment.
RULES_APPLY = 'printf "%s" "$IPV4_RULES" | iptables-restore && printf "%s" "$IPV6_RULES" | ip6tables-restore'
RULES_ENTRYPOINT = ["sh", "-c", RULES_APPLY]
# Reads the host's addresses and resolvers from the host's network namespace, as nobody.
HOST_VIEW_ENTRYPOINT = ["python3", "-m", "appliance.helpers.host_view"]
# Makes a new home in system mode the user's (CHOWN), seeing only that folder.
NEW_HOME = "/new-home"
# Archives a user's volumes (mounted read-only under ARCHIVE_SOURCES) into the instance's archive volume (at
# ARCHIVE_TARGET): reads every file whoever owns it (DAC_READ_SEARCH), with no network.
ARCHIVE_ENTRYPOINT = ["python3", "-m", "appliance.helpers.archive_volumes"]
ARCHIVE_SOURCES = "/volumes"
ARCHIVE_TARGET = "/archives"
# Runs restic (appliance.helpers.restic_volumes): volumes under RESTIC_VOLUMES (read-only to back up, one of them
# writable to restore into), the hub's dump at RESTIC_HUB_DUMPS, a host folder repository at RESTIC_REPOSITORY.
RESTIC_ENTRYPOINT = ["python3", "-m", "appliance.helpers.restic_volumes"]
RESTIC_VOLUMES = "/volumes"
RESTIC_HUB_DUMPS = "/hub-dumps"
RESTIC_REPOSITORY = "/repository"
# Backing up reads every file whoever owns it; restoring writes them back with their owners and modes.
RESTIC_BACKUP_CAPABILITIES = ["DAC_READ_SEARCH"]
RESTIC_RESTORE_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER"]

# Makes each user volume's btrfs subvolume in USER_STORAGE_DIR (mounted at STORAGE_MOUNT) and sets its quota, and
# reads the usage (appliance.helpers.user_storage): btrfs's quota ioctls need SYS_ADMIN; no network.
STORAGE_ENTRYPOINT = ["python3", "-m", "appliance.helpers.user_storage"]
STORAGE_MOUNT = "/user-storage"
STORAGE_CAPABILITIES = ["SYS_ADMIN"]
# Copies a home from an older Docker volume (read-only at COPY_SOURCE) into an empty one (at COPY_TARGET) with its
# owners and modes, then compares them (appliance.helpers.copy_home): `appliance storage migrate`; no network.
COPY_ENTRYPOINT = ["python3", "-m", "appliance.helpers.copy_home"]
COPY_SOURCE = "/from"
COPY_TARGET = "/to"
COPY_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER"]


def home_entrypoint(uid: int, gid: int) -> list[str]:
    return ["sh", "-c", f"chmod 0700 {NEW_HOME} && chown {uid}:{gid} {NEW_HOME}"]
