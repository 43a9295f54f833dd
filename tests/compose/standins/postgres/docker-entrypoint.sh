#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The postgres image's start-up, as documented for it: as root, own the
# data directory and re-run as postgres; on an empty PGDATA, initdb with
# POSTGRES_USER as the superuser and POSTGRES_PASSWORD as its password,
# create POSTGRES_DB, run /docker-entrypoint-initdb.d/* on a server that
# listens on its socket only, stop it; then run the server on every
# address, password (scram-sha-256) authentication from the network.
set -euo pipefail
if [[ ${1:-} != postgres ]]; then
        exec "$@"
fi
if ((EUID == 0)); then
        mkdir -p "$PGDATA" /var/run/postgresql
        chown -R postgres:postgres "$PGDATA" /var/run/postgresql
        chmod 700 "$PGDATA"
        exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [[ ! -s $PGDATA/PG_VERSION ]]; then
        [[ -n ${POSTGRES_PASSWORD:-} ]] || {
                echo "error: database is uninitialized and POSTGRES_PASSWORD is not set" >&2
                exit 1
        }
        pwfile=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
        initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
                -E UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"
        rm -f "$pwfile"
        printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
        pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
        if [[ $db != postgres ]]; then
                psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres \
                        -c "CREATE DATABASE \"$db\""
        fi
        for f in /docker-entrypoint-initdb.d/*; do
                case $f in
                *.sh) echo "running $f"; . "$f" ;;
                *.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 --username "$user" --dbname "$db" -f "$f" ;;
                *) ;;
                esac
        done
        pg_ctl -D "$PGDATA" -m fast -w stop
        echo "PostgreSQL init process complete; ready for start up."
fi
exec postgres -c listen_addresses='*' "${@:2}"
