#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 with a `test` database, so the
# PostgreSQL half of the test suite can run.  Idempotent: if a server already answers, it only
# makes sure the database exists.  Otherwise it installs PostgreSQL (Debian/Ubuntu, needs root or
# sudo), configures the default cluster for local trust authentication, starts it and waits.
#
# Tests connect with PUHUI_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
# PG_HOST, PG_PORT, PG_DB and PG_CLUSTER override the defaults (used to test this script).
set -euo pipefail

HOST="${PG_HOST:-127.0.0.1}"
PORT="${PG_PORT:-5432}"
DB="${PG_DB:-test}"
CLUSTER="${PG_CLUSTER:-main}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

log() { echo "ensure-postgres: $*" >&2; }

answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$HOST" -p "$PORT" -t 2
    elif [ -x "$ROOT/.venv/bin/python" ]; then
        "$ROOT/.venv/bin/python" - "$HOST" "$PORT" <<'PY' >/dev/null 2>&1
import sys, psycopg
try:
    psycopg.connect(host=sys.argv[1], port=sys.argv[2], user="postgres", dbname="postgres",
                    connect_timeout=2).close()
except psycopg.OperationalError as exc:
    # An authentication or "no such database" answer still means a server is there.
    sys.exit(0 if "password" in str(exc) or "does not exist" in str(exc) else 1)
PY
    else
        (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
    fi
}

ensure_database() {
    command -v psql >/dev/null 2>&1 || { log "psql not found; not checking database $DB"; return 0; }
    local q=(psql -w -X -q -h "$HOST" -p "$PORT" -U postgres -d postgres -At)
    if ! exists="$("${q[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" 2>/dev/null)"; then
        log "cannot log in as postgres on $HOST:$PORT; make sure database $DB exists yourself"
        return 0
    fi
    if [ "$exists" != "1" ]; then
        log "creating database $DB"
        "${q[@]}" -c "CREATE DATABASE \"$DB\""
    fi
}

if answers; then
    ensure_database
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { log "PostgreSQL is not running and I am not root (no sudo)"; exit 1; }
    SUDO="sudo"
fi

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing PostgreSQL"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
fi

VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
CONF="/etc/postgresql/$VERSION/$CLUSTER"
if [ ! -f "$CONF/postgresql.conf" ]; then
    log "creating cluster $VERSION/$CLUSTER on port $PORT"
    $SUDO pg_createcluster "$VERSION" "$CLUSTER" --port "$PORT"
fi

# Trust local and loopback connections: this server exists for development and tests only.
if ! $SUDO grep -q '^# puhui: trust local' "$CONF/pg_hba.conf"; then
    log "enabling trust authentication for local connections"
    $SUDO sh -c "{ printf '%s\n' '# puhui: trust local' \
        'local all all trust' 'host all all 127.0.0.1/32 trust' 'host all all ::1/128 trust'; \
        cat '$CONF/pg_hba.conf'; } > '$CONF/pg_hba.conf.new' \
        && chown --reference='$CONF/pg_hba.conf' '$CONF/pg_hba.conf.new' \
        && chmod --reference='$CONF/pg_hba.conf' '$CONF/pg_hba.conf.new' \
        && mv '$CONF/pg_hba.conf.new' '$CONF/pg_hba.conf'"
fi
$SUDO pg_conftool "$VERSION" "$CLUSTER" set port "$PORT"  # listen_addresses stays 'localhost'

# The socket directory lives on a tmpfs that containers do not recreate.
$SUDO install -d -o postgres -g postgres -m 2775 /var/run/postgresql

if pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}' \
        | grep -q online; then
    log "restarting cluster $VERSION/$CLUSTER"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$CLUSTER" restart
else
    log "starting cluster $VERSION/$CLUSTER"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$CLUSTER" start
fi

for _ in $(seq 1 60); do
    answers && break
    sleep 0.5
done
answers || { log "PostgreSQL did not come up on $HOST:$PORT"; exit 1; }
ensure_database
log "PostgreSQL is ready on $HOST:$PORT (database $DB)"
