#!/bin/sh
# Installs what CityGrid needs from Debian's packages and makes sure a local PostgreSQL server answers.
# Idempotent: installs only what is missing and starts the server only when it is down.
set -eu

say() { printf 'setup: %s\n' "$*" >&2; }
is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
can_apt() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; }

# Redis holds the rate-limit counts; the application goes on without it, but starts it when it is ours.
start_redis() {
    if [ -z "${REDIS_URL:-}" ] && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
        if command -v redis-server >/dev/null 2>&1; then
            say "starting Redis"
            redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
        else
            say "Redis is not installed: rate limits will count per process"
        fi
    fi
}

# Elsewhere nothing is installed or checked here: the step that needs a missing piece fails, saying which
# (the virtualenv, the database, GeoDjango's libraries, compilemessages, the browser tests).
if ! command -v dpkg-query >/dev/null 2>&1; then
    say "not a Debian system: installing nothing; needs PostgreSQL with PostGIS 3, GDAL, GEOS, PROJ, gettext, Chromium and Redis, and the next steps fail where one is missing"
    if command -v redis-server >/dev/null 2>&1; then start_redis; fi
    exit 0
fi

apt_updated=""
apt_install() {
    if ! can_apt; then
        say "missing Debian packages: $*; install them as root: apt-get install $*"
        exit 1
    fi
    if [ -z "$apt_updated" ]; then
        apt-get update -qq
        apt_updated=1
    fi
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The PostgreSQL server: the newest major version installed, or Debian's default one.
pg_major() { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1; }
if [ -z "$(pg_major)" ] || [ ! -x "/usr/lib/postgresql/$(pg_major)/bin/postgres" ]; then
    apt_install postgresql postgresql-contrib
fi
PG=$(pg_major)

# Operations (README "Operations"): pgBackRest archives the WAL and takes the backups, restic copies the photos,
# nginx terminates TLS, openssl makes the tests' certificate, systemd-analyze checks the units (the systemd
# package; these machines need not run systemd as PID 1 for that).
missing=""
# Mosquitto: the sensors' MQTT broker (the product runs its own instance from var/, `manage.py mqtt_broker`).
# Pango and HarfBuzz's subsetter for WeasyPrint (the bulletin's PDF), poppler-utils to read a PDF back in tests.
for pkg in "postgresql-$PG-postgis-3" "postgresql-$PG-pgrouting" postgresql-client gdal-bin binutils libproj25 gettext python3-venv \
           chromium fonts-noto-cjk redis-server pgbackrest restic nginx openssl systemd \
           libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils mosquitto mosquitto-clients; do
    is_installed "$pkg" || missing="$missing $pkg"
done
# shellcheck disable=SC2086
[ -z "$missing" ] || apt_install $missing

start_redis

# Only a server on this machine is ours to start; DATABASE_URL may point elsewhere.
if [ -z "${DATABASE_URL:-}" ]; then
    if ! pg_isready -q; then
        if ! can_apt; then
            say "PostgreSQL is not running; start it as root: pg_ctlcluster $PG main start"
            exit 1
        fi
        if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
            say "creating PostgreSQL cluster $PG/main"
            pg_createcluster "$PG" main >/dev/null
        fi
        cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
        say "starting PostgreSQL $cluster"
        # shellcheck disable=SC2086
        pg_ctlcluster --skip-systemctl-redirect $cluster start
        for _ in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q && break; sleep 1; done
    fi
    # The default DATABASE_URL connects over the socket as this OS user: make sure that role exists.
    me=$(id -un)
    if ! psql -d postgres -Atqc "select 1" >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ]; then
            say "creating PostgreSQL superuser role $me"
            runuser -u postgres -- psql -d postgres -qc "CREATE ROLE \"$me\" SUPERUSER LOGIN" >/dev/null
        else
            say "PostgreSQL refuses user $me; as root run: runuser -u postgres -- createuser -s $me"
            exit 1
        fi
    fi
    # The services connect as roles of their own (runtime, owner, backup: `manage.py create_database` makes
    # them), over the same socket. Debian's default "peer" authentication admits an OS user only as the role of
    # the same name: map this OS user to the three roles, once, where the server refuses them.
    url_user() { printf '%s' "$1" | sed -n 's|^[a-z]*://\([^:@/]*\)[^@/]*@.*|\1|p'; }
    roles="citygrid_app $( [ -n "${DATABASE_OWNER_URL:-}" ] && url_user "$DATABASE_OWNER_URL" || echo citygrid_owner)"
    roles="$roles $( [ -n "${DATABASE_BACKUP_URL:-}" ] && url_user "$DATABASE_BACKUP_URL" || echo citygrid_backup)"
    if psql -U citygrid_app -d postgres -Atqc "select 1" 2>&1 | grep -q "authentication failed"; then
        if [ "$(id -u)" -ne 0 ]; then
            say "PostgreSQL refuses the role citygrid_app over the socket; map $me to $roles in pg_ident.conf"
            exit 1
        fi
        hba=$(psql -d postgres -Atqc "show hba_file")
        ident=$(psql -d postgres -Atqc "show ident_file")
        say "mapping OS user $me to the database roles $roles (peer authentication, $ident)"
        sed -i "1i local all $(echo $roles | tr ' ' ',') peer map=citygrid  # CityGrid's services" "$hba"
        for role in $roles; do printf 'citygrid %s %s\n' "$me" "$role" >> "$ident"; done
        psql -d postgres -Atqc "select pg_reload_conf()" >/dev/null
    fi
fi
