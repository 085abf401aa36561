#!/bin/sh
# Installs CityGrid as a city's IT department runs it (README, Operations), on a Debian 12 host, as root, from
# this checkout (clone it where it should live, e.g. /opt/citygrid, then `make install`):
#   - Debian's packages (deploy/setup-system.sh: PostgreSQL + PostGIS, Redis, pgBackRest, restic, nginx…);
#   - the system user `citygrid`, its folders in /var/lib/citygrid;
#   - /etc/citygrid/citygrid.env (the application's settings, a generated secret key) and
#     /etc/citygrid/backup.env (the backup repositories and their generated passphrases: root only);
#   - the database (create_database, migrate as the owner, check_grants), translations, static files;
#   - pgBackRest: its configuration, WAL archiving on the local cluster, the stanza in both repositories and a
#     first full backup;
#   - the systemd units and timers and the nginx site (manage.py render_deploy), enabled and started.
# Safe to run again: what exists is kept (the environment files and their secrets are made once, then only
# read), what is rendered is rendered anew from them, nothing that is right is restarted.
#
#   make install SERVER_NAME=citygrid.example.gov.cn [TLS_CERT=/path/fullchain.pem TLS_KEY=/path/key.pem]
#   deploy/install.sh --stage DIR   # writes into DIR what it would install, touches nothing else (the tests)
set -eu

PREFIX=$(cd "$(dirname "$0")/.." && pwd)
STAGE=""
if [ "${1:-}" = "--stage" ]; then
    STAGE=$(mkdir -p "$2" && cd "$2" && pwd)
fi
APP_USER=${APP_USER:-citygrid}
SERVER_NAME=${SERVER_NAME:-$(hostname -f 2>/dev/null || hostname)}
WEB_BIND=${WEB_BIND:-127.0.0.1:8001}
OFFSITE_PATH=${OFFSITE_PATH:-/srv/citygrid-offsite}
ETC="$STAGE/etc/citygrid"
STATE=/var/lib/citygrid
PY="$PREFIX/.venv/bin/python"

say() { printf 'install: %s\n' "$*" >&2; }
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(36))'; }
# Write $2 (a file with the new content) to $1 only when it differs; says so. Returns 0 when it changed.
put() {
    if [ -f "$1" ] && cmp -s "$1" "$2"; then rm -f "$2"; return 1; fi
    mkdir -p "$(dirname "$1")"
    mv "$2" "$1"
    say "wrote $1"
}

if [ -z "$STAGE" ]; then
    [ "$(id -u)" -eq 0 ] || { say "run as root (sudo make install)"; exit 1; }
    command -v dpkg-query >/dev/null 2>&1 || { say "not a Debian system: see README, Operations, for the steps"; exit 1; }
    # The local server's set-up, not a DATABASE_URL of the caller's shell.
    env -u DATABASE_URL -u DATABASE_OWNER_URL -u DATABASE_BACKUP_URL sh "$PREFIX/deploy/setup-system.sh"
    if ! id "$APP_USER" >/dev/null 2>&1; then
        adduser --system --group --home "$STATE" --no-create-home --shell /usr/sbin/nologin "$APP_USER" >/dev/null
        say "created system user $APP_USER"
    fi
    install -d -m 0755 "$STATE" "$STATE/static"
    install -d -o "$APP_USER" -g "$APP_USER" -m 0750 "$STATE/media"
    install -d -o "$APP_USER" -g "$APP_USER" -m 0700 "$STATE/mosquitto"
fi

# --- the environment files: made once, then left as the administrator edits them -----------------------------
mkdir -p "$ETC"
PG_MAJOR=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
PG_MAJOR=${PG_MAJOR:-15}
if [ ! -f "$ETC/citygrid.env" ]; then
    umask 027
    cat > "$ETC/citygrid.env" <<EOF
# CityGrid's settings (README, Configuration), made by deploy/install.sh; read by systemd for the services.
# After a change: systemctl restart citygrid.target (and run \`make install\` again for WEB_BIND or the limits,
# which the nginx site follows).
DEBUG=0
SECRET_KEY=$(secret)$(secret)
ALLOWED_HOSTS=$SERVER_NAME
CSRF_TRUSTED_ORIGINS=https://$SERVER_NAME
DATABASE_URL=postgis://citygrid_app@%2Fvar%2Frun%2Fpostgresql/citygrid
MEDIA_ROOT=$STATE/media
STATIC_ROOT=$STATE/static
BACKUP_STATUS_DIR=$STATE/backup-status
MQTT_DIR=$STATE/mosquitto
SECURE_PROXY_SSL_HEADER=1
TRUSTED_PROXIES=127.0.0.1,::1
REDIS_URL=redis://127.0.0.1:6379/1
WEB_BIND=$WEB_BIND
WORKERS=3
THREADS=8
# What pages the on-call person (deploy/page.sh), e.g. mail -s "CityGrid alert" oncall@example.gov.cn
PAGE_COMMAND=
EOF
    umask 022
    say "wrote $ETC/citygrid.env (secret key generated)"
fi
# systemd reads it as root; the application's user may read it too (manage.py by hand), nobody else.
[ -n "$STAGE" ] || chown "root:$APP_USER" "$ETC/citygrid.env"
if [ ! -f "$ETC/backup.env" ]; then
    umask 077
    cat > "$ETC/backup.env" <<EOF
# CityGrid's backups (README, Operations), made by deploy/install.sh; root only. KEEP A COPY OF THIS FILE AWAY
# FROM THIS MACHINE: without its passphrases no backup, the off-site copy included, can be read.
# After a change run \`make install\` again (it renders pgBackRest's configuration and the units from it).
BACKUP_STANZA=citygrid
BACKUP_CONFIG=/etc/pgbackrest/pgbackrest.conf
BACKUP_OS_USER=postgres
BACKUP_PG_PATH=/var/lib/postgresql/$PG_MAJOR/main
BACKUP_PG_PORT=5432
BACKUP_PG_SOCKET=/var/run/postgresql
BACKUP_STATUS_DIR=$STATE/backup-status
BACKUP_LOCK_PATH=/var/spool/pgbackrest/lock
# repo1: on this machine.
BACKUP_REPO1_PATH=/var/lib/pgbackrest
BACKUP_REPO1_CIPHER_PASS=$(secret)
# repo2: the off-site copy. A path where the other site's storage is mounted, or an S3-compatible store:
#   BACKUP_REPO2_TYPE=s3  BACKUP_REPO2_PATH=/citygrid  BACKUP_REPO2_S3_BUCKET=  BACKUP_REPO2_S3_ENDPOINT=
#   BACKUP_REPO2_S3_REGION=  BACKUP_REPO2_S3_KEY=  BACKUP_REPO2_S3_KEY_SECRET=  BACKUP_REPO2_S3_URI_STYLE=path
BACKUP_REPO2_TYPE=posix
BACKUP_REPO2_PATH=$OFFSITE_PATH
BACKUP_REPO2_CIPHER_PASS=$(secret)
# Retention: full backups kept (one a week: the point-in-time window), differential backups kept; the photos'
# daily snapshots kept this many days (every snapshot of the last two days).
BACKUP_RETENTION_FULL=4
BACKUP_RETENTION_DIFF=6
BACKUP_MEDIA_KEEP_DAYS=35
# Seconds after which a WAL segment with changes is archived even when not full: the most a lost server loses.
BACKUP_ARCHIVE_TIMEOUT=60
EOF
    umask 022
    say "wrote $ETC/backup.env (passphrases generated: keep a copy off this machine)"
fi

# --- TLS: the city's certificate, or a self-signed one until it comes ---------------------------------------
TLS_CERT=${TLS_CERT:-/etc/citygrid/tls/citygrid.crt}
TLS_KEY=${TLS_KEY:-/etc/citygrid/tls/citygrid.key}
if [ ! -f "$STAGE$TLS_CERT" ]; then
    mkdir -p "$(dirname "$STAGE$TLS_CERT")" "$(dirname "$STAGE$TLS_KEY")"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$SERVER_NAME" \
        -addext "subjectAltName=DNS:$SERVER_NAME" -keyout "$STAGE$TLS_KEY" -out "$STAGE$TLS_CERT" 2>/dev/null
    umask 022
    say "made a self-signed certificate for $SERVER_NAME ($TLS_CERT): replace it with the city's (TLS_CERT, TLS_KEY)"
fi

# --- the application: virtualenv, database, translations, static files ----------------------------------------
make -s -C "$PREFIX" venv
set -a
. "$ETC/citygrid.env"
set +a
if [ -z "$STAGE" ]; then
    # The administrator (root, a PostgreSQL superuser) creates; the owner migrates; nothing serves as either.
    "$PY" "$PREFIX/manage.py" create_database
    "$PY" "$PREFIX/manage.py" migrate --noinput -v0
    "$PY" "$PREFIX/manage.py" check_grants
    "$PY" "$PREFIX/manage.py" compilemessages -v0 --ignore '.venv/*'
    "$PY" "$PREFIX/manage.py" refresh_static
    # The services' OS user logs in as the runtime role only (peer authentication over the socket).
    hba=$(psql -d postgres -Atqc "show hba_file")
    ident=$(psql -d postgres -Atqc "show ident_file")
    if ! grep -q "map=citygrid" "$hba"; then
        sed -i "1i local all citygrid_app,citygrid_owner,citygrid_backup peer map=citygrid  # CityGrid's services" "$hba"
    fi
    if ! grep -qE "^citygrid[[:space:]]+$APP_USER[[:space:]]+citygrid_app\$" "$ident"; then
        printf 'citygrid %s citygrid_app\n' "$APP_USER" >> "$ident"
        say "mapped OS user $APP_USER to the runtime role citygrid_app ($ident)"
    fi
    psql -d postgres -Atqc "select pg_reload_conf()" >/dev/null
fi

# --- pgBackRest: configuration, archiving, the stanza, a first full backup ---------------------------------------
BACKUP="$PY -m citygrid.pitr --env-file $ETC/backup.env"
tmp=$(mktemp)
$BACKUP conf > "$tmp"
put "$STAGE/etc/pgbackrest/pgbackrest.conf" "$tmp" || true
[ -n "$STAGE" ] || { chown root:postgres /etc/pgbackrest/pgbackrest.conf; chmod 0640 /etc/pgbackrest/pgbackrest.conf; }
tmp=$(mktemp)
$BACKUP archive-settings > "$tmp"
archive_conf="$STAGE/etc/postgresql/$PG_MAJOR/main/conf.d/citygrid-pitr.conf"
archive_changed=""
put "$archive_conf" "$tmp" && archive_changed=1
if [ -z "$STAGE" ]; then
    for repo in $($BACKUP paths); do
        # pgBackRest's archive/ and backup/ stay the postgres user's; the photos' media/ is the app's.
        install -d -o postgres -g "$APP_USER" -m 0750 "$repo"
        install -d -o "$APP_USER" -g "$APP_USER" -m 0750 "$repo/media"
    done
    install -d -o postgres -g postgres -m 0750 /var/log/pgbackrest /var/spool/pgbackrest /var/spool/pgbackrest/lock
    install -d -o postgres -g "$APP_USER" -m 2775 "$STATE/backup-status"
    if [ "$(psql -d postgres -Atqc 'show archive_mode')" = "off" ]; then
        say "restarting PostgreSQL $PG_MAJOR/main for archive_mode"
        if [ -d /run/systemd/system ]; then systemctl restart "postgresql@$PG_MAJOR-main"
        else pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main restart; fi
    elif [ -n "$archive_changed" ]; then
        psql -d postgres -Atqc "select pg_reload_conf()" >/dev/null
    fi
    $BACKUP stanza-create
    if [ "$($BACKUP info | tr -d '[:space:]')" = "{}" ]; then
        say "taking the first full backup"
        $BACKUP backup --type full
    fi
fi

# --- systemd units and timers, the nginx site -------------------------------------------------------------------
rendered=$(mktemp -d)
"$PY" "$PREFIX/manage.py" render_deploy --out "$rendered" --prefix "$PREFIX" --user "$APP_USER" \
    --env-file /etc/citygrid/citygrid.env --backup-env-file /etc/citygrid/backup.env \
    --read-backup-env "$ETC/backup.env" --web-bind "$WEB_BIND" \
    --server-name "$SERVER_NAME" --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY" >/dev/null
units_changed=""
for unit in "$rendered"/systemd/*; do
    put "$STAGE/etc/systemd/system/$(basename "$unit")" "$unit" && units_changed=1
done
site_changed=""
put "$STAGE/etc/nginx/sites-available/citygrid" "$rendered/nginx/citygrid.conf" && site_changed=1
rm -rf "$rendered"
mkdir -p "$STAGE/etc/nginx/sites-enabled"
ln -sfn /etc/nginx/sites-available/citygrid "$STAGE/etc/nginx/sites-enabled/citygrid"
if [ -L "$STAGE/etc/nginx/sites-enabled/default" ]; then
    rm "$STAGE/etc/nginx/sites-enabled/default"  # Debian's welcome page would answer for every other name
    say "disabled nginx's default site"
fi
if [ -n "$STAGE" ]; then
    say "staged into $STAGE"
    exit 0
fi

nginx -t -q
if [ -d /run/systemd/system ]; then
    [ -z "$units_changed" ] || systemctl daemon-reload
    systemctl enable --now nginx citygrid.target citygrid-web.service citygrid-scheduler.service \
        citygrid-mqtt.service citygrid-ingest.service \
        citygrid-backup-db-full.timer citygrid-backup-db-diff.timer citygrid-backup-media.timer citygrid-health.timer
    [ -z "$site_changed" ] || systemctl reload nginx
    say "CityGrid serves at https://$SERVER_NAME/ (systemctl status citygrid.target; journalctl -u citygrid-web)"
else
    say "systemd is not running here: the units are installed but nothing was started. Start by hand what they"
    say "start: README, Operations (nginx; gunicorn --config deploy/gunicorn.conf.py citygrid.wsgi; run_scheduler; mqtt_broker start; run_ingest)"
fi
