#!/bin/sh
# First start: a generated password for the role `jupyterhub` (in SECRET_FILE, root's, mode 0600, which only
# the hub reads), a cluster in PGDATA that allows that role by password over TCP, and its database.
# Every start: the server, as the postgres account. Nothing is ever removed.
set -eu
SECRET_FILE="${SECRET_FILE:-/run/appliance-database/password}"
ROLE=jupyterhub

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

if [ ! -s "$SECRET_FILE" ]; then
  umask 077
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRET_FILE.partial"
  mv "$SECRET_FILE.partial" "$SECRET_FILE"
  echo "Generated the password of role $ROLE in $SECRET_FILE"
fi

# Root may not look inside the postgres account's folders (no CAP_DAC_OVERRIDE): postgres does the rest.
chown postgres:postgres "$PGDATA" /run/postgresql
if ! as_postgres test -s "$PGDATA/PG_VERSION"; then
  echo "Creating the database cluster in $PGDATA"
  password_file="$(mktemp)"
  cp "$SECRET_FILE" "$password_file"
  chown postgres "$password_file"
  as_postgres /bin/sh -eu -c '
    chmod 0700 "$PGDATA"
    # The superuser logs in only through the local socket, as the postgres account; the hub role by password.
    initdb --username=postgres --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    echo "listen_addresses = '"'*'"'" >>"$PGDATA/postgresql.conf"
    echo "host $1 $1 all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    pg_ctl --wait --silent --options="-c listen_addresses=" start
    psql --quiet --set=ON_ERROR_STOP=1 --dbname=postgres --set=role="$1" --set=password="$(cat "$2")" <<SQL
CREATE ROLE :"role" LOGIN PASSWORD :'"'password'"';
CREATE DATABASE :"role" OWNER :"role";
SQL
    pg_ctl --wait --silent stop
  ' initialize "$ROLE" "$password_file"
  rm -f "$password_file"
  echo "Created role $ROLE and its database"
fi

exec setpriv --reuid=postgres --regid=postgres --init-groups -- postgres
