#!/bin/bash
# As docker-stacks' start.sh does for a user who is not root: run the hooks, then exec the command.
# Only root could change NB_UID, grant sudo or chown the home; as anyone else those are warnings.
set -e
echo "Entered start.sh with args: $*"

run_hooks() {
    for hook in "$1"/*; do
        [ -e "$hook" ] || continue
        case "$hook" in
            *.sh) echo "Sourcing shell script: $hook"; source "$hook" ;;
            *) if [ -x "$hook" ]; then echo "Running executable: $hook"; "$hook"; fi ;;
        esac
    done
}

run_hooks /usr/local/bin/start-notebook.d
if [ "$(id -u)" = 0 ]; then
    echo "start.sh: this image is not meant to start as root" >&2
    exit 1
fi
if [ "${NB_UID:-1000}" != "$(id -u)" ]; then
    echo "WARNING: container must be started as root to change the desired user's id with NB_UID" >&2
fi
case "${GRANT_SUDO:-}" in 1 | yes) echo "WARNING: container must be started as root to grant sudo permissions" >&2 ;; esac
case "${CHOWN_HOME:-}" in 1 | yes) echo "WARNING: container must be started as root to change the home's owner" >&2 ;; esac
run_hooks /usr/local/bin/before-notebook.d
echo "Running as $(id -un) ($(id -u):$(id -g)): $*"
exec "$@"
