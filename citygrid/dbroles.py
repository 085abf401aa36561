"""Least-privilege database roles (等保 最小权限, 数据库管理员与应用分离).

Three roles, named by the user of their URL (settings.DATABASE_URL, DATABASE_OWNER_URL, DATABASE_BACKUP_URL):

- the owner holds the database and every table, sequence and function of the application, and runs the
  migrations (`migrate` and `flush` switch to it, see `as_owner`); nothing serves as it;
- the runtime role serves (gunicorn, the scheduler, the management commands that serve): no SUPERUSER,
  CREATEDB or CREATEROLE, owns nothing, and holds only the grants declared here — it cannot ALTER, DROP,
  TRUNCATE or disable a trigger, and cannot UPDATE or DELETE the case log or the audit trail;
- the backup role reads everything, for pg_dump.

A PostgreSQL administrator (the OS user over the local socket, or PGUSER/PGPASSWORD on DATABASE_URL's server)
creates the roles and databases and the PostGIS extension, which is not trusted and so needs a superuser:
`create_database`, the test database and `restore` use it for that and nothing else.

The declared grants are applied after every migrate (`apply_grants`, also as default privileges, so that a
table a later migration creates gets them at once) and checked by `differences` (`manage.py check_grants`).
"""

import getpass
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg2 import sql

OWNER, RUNTIME, BACKUP, ADMIN = "owner", "runtime", "backup", "admin"

# What the runtime role may do on each table; every table not named here is operational (read and write).
OPERATIONAL = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
APPEND_ONLY = frozenset({"SELECT", "INSERT"})
READ_ONLY = frozenset({"SELECT"})
TABLE_GRANTS: dict[str, frozenset[str]] = {
    "incidents_caselog": APPEND_ONLY,  # the case log: the triggers refuse UPDATE/DELETE even to the owner
    "incidents_casekey": APPEND_ONLY,  # a case's unique number and client id, written with it; they never change
    "incidents_callback": APPEND_ONLY,  # callbacks (回访): the triggers refuse UPDATE/DELETE, as for the case log
    "assets_componentlog": APPEND_ONLY,  # a component's history: the triggers refuse UPDATE/DELETE
    "alerts_warninglog": APPEND_ONLY,  # a warning's issue/update/cancel with its CAP document: as the case log
    "emergency_incidentlog": APPEND_ONLY,  # an incident's log: the triggers refuse UPDATE/DELETE
    "citygrid_auditevent": APPEND_ONLY,  # the audit trail: old rows leave only through citygrid_audit_purge()
    "citygrid_audit_retention": READ_ONLY,  # lengthened only by citygrid_audit_purge(), lowered by the owner
    "django_migrations": READ_ONLY,  # migrations run as the owner
    "django_content_type": READ_ONLY,  # content types and permissions are created by migrate (as the owner)
    "auth_permission": READ_ONLY,
    # OGC API – Features reads these views (ogc/migrations): a simple view is updatable, so read-only
    **{view: READ_ONLY for view in ("ogc_district", "ogc_street", "ogc_community", "ogc_cell", "ogc_component",
                                    "ogc_pipe", "ogc_public_case")},
}
SEQUENCE_GRANTS = frozenset({"USAGE"})  # nextval (the case numbers); identity columns need only INSERT
BACKUP_GRANTS = frozenset({"SELECT"})  # tables and sequences alike: what pg_dump reads
# SECURITY DEFINER functions (owned by the owner, run with its rights) that the runtime role may call; nobody
# else may (EXECUTE is revoked from PUBLIC).
DEFINER_FUNCTIONS = ("citygrid_audit_purge", "citygrid_analyze", "citygrid_audit_partitions",
                     "monitoring_ensure_partitions", "monitoring_drop_partitions", "incidents_partitions")
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT", "UPDATE")


class RolesError(Exception):
    """A role or database cannot be set up or reached; the message is one readable line."""


class NoAdministrator(RolesError):
    """No PostgreSQL superuser to set up with (a server run by someone else, whose DBA made the roles)."""


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str
    host: str
    port: str

    def connect_kwargs(self) -> dict[str, str]:
        return {k: v for k, v in {"user": self.user, "password": self.password, "host": self.host,
                                  "port": self.port}.items() if v}

    def cli(self) -> tuple[dict[str, str], list[str]]:
        """Environment and arguments for the PostgreSQL client programs."""
        env = {**os.environ}
        if self.password:
            env["PGPASSWORD"] = self.password
        args: list[str] = []
        for flag, value in (("-h", self.host), ("-p", self.port), ("-U", self.user)):
            if value:
                args += [flag, str(value)]
        return env, args


def _from_settings(db: dict) -> Credentials:
    return Credentials(user=db.get("USER") or "", password=db.get("PASSWORD") or "", host=db.get("HOST") or "",
                       port=str(db.get("PORT") or ""))


def credentials(kind: str) -> Credentials:
    """How `kind` (owner, runtime, backup or admin) connects. The administrator is whoever runs the set-up:
    libpq's own user (PGUSER, or the OS user) and password on the server of DATABASE_URL."""
    runtime = _from_settings(settings.DATABASES[DEFAULT_DB_ALIAS])
    if kind == RUNTIME:
        return runtime
    if kind == OWNER:
        return _from_settings(settings.DATABASE_OWNER)
    if kind == BACKUP:
        return _from_settings(settings.DATABASE_BACKUP)
    if kind == ADMIN:
        return Credentials(user="", password="", host=runtime.host, port=runtime.port)
    raise ValueError(f"unknown database role kind {kind!r}")


def role_name(kind: str) -> str:
    """The PostgreSQL role of `kind`: its URL's user, or libpq's default (PGUSER, the OS user) when empty."""
    return credentials(kind).user or os.environ.get("PGUSER") or getpass.getuser()


def database_name() -> str:
    """The database the application uses now (the test database during the tests)."""
    return settings.DATABASES[DEFAULT_DB_ALIAS]["NAME"]


def connect(kind: str, dbname: str | None = None, *, autocommit: bool = False):
    """A new psycopg2 connection as `kind` to `dbname` (default: the application's database)."""
    creds = credentials(kind)
    where = f"{creds.host or 'local socket'}:{creds.port or 5432}"
    try:
        conn = psycopg2.connect(dbname=dbname or database_name(), **creds.connect_kwargs())
    except psycopg2.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or ["no answer"])[0]
        error = NoAdministrator if kind == ADMIN else RolesError
        raise error(f"cannot connect as the {kind} role {role_name(kind)} at {where}: {reason}") from exc
    conn.autocommit = autocommit
    return conn


@contextmanager
def as_owner(alias: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Run the block with this thread's connection `alias` logged in as the owner role (migrate, flush, the
    test database's set-up); back to the runtime role afterwards. Only this thread's connection changes:
    other threads (a live test server) keep serving as the runtime role."""
    conn = connections[alias]
    original = conn.settings_dict
    owner = credentials(OWNER)
    if owner == _from_settings(original):
        yield
        return
    if conn.in_atomic_block:
        raise RolesError("cannot switch to the owner role inside a transaction")
    conn.close()
    conn.settings_dict = {**original, "USER": owner.user, "PASSWORD": owner.password, "HOST": owner.host,
                          "PORT": owner.port}
    try:
        yield
    finally:
        conn.close()
        original["NAME"] = conn.settings_dict["NAME"]  # the test database's set-up renames it
        conn.settings_dict = original


# --- the administrator's part: roles, databases, PostGIS, converting an old database -------------------------

def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def ensure_roles(cur) -> list[str]:
    """Create the owner, runtime and backup roles where missing, as plain login roles (no SUPERUSER, CREATEDB,
    CREATEROLE, REPLICATION or BYPASSRLS); refuse existing ones that have any of these. Returns what was
    done."""
    done = []
    cur.execute("SELECT current_user")
    admin = cur.fetchone()[0]
    names = {kind: role_name(kind) for kind in (OWNER, RUNTIME, BACKUP)}
    if len(set(names.values())) < 3:
        raise RolesError("the owner, runtime and backup roles must be three different roles, not "
                         + ", ".join(f"{k} {n}" for k, n in names.items()))
    for kind, name in names.items():
        if name == admin:
            raise RolesError(f"the {kind} role is {name}, the administrator running the set-up: give it a role "
                             f"of its own ({'DATABASE_URL' if kind == RUNTIME else f'DATABASE_{kind.upper()}_URL'})")
        cur.execute("SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin "
                    "FROM pg_roles WHERE rolname = %s", [name])
        row = cur.fetchone()
        if row is None:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                                "NOBYPASSRLS").format(_ident(name)))
            done.append(f"created role {name} ({kind})")
        elif any(row[:5]):
            # An existing role is never demoted here (it may be someone else's administrator): refused.
            raise RolesError(f"the {kind} role {name} exists with SUPERUSER, CREATEDB, CREATEROLE, REPLICATION "
                             "or BYPASSRLS: give the application a role of its own")
        elif not row[5]:
            raise RolesError(f"the {kind} role {name} exists but cannot log in")
        password = credentials(kind).password
        if password:
            cur.execute(sql.SQL("ALTER ROLE {} PASSWORD %s").format(_ident(name)), [password])
    return done


def _convert_ownership(cur, owner: str) -> int:
    """Give the owner role every object of the application that another role owns (a database made before
    the roles existed, owned by the OS user): tables with their indexes and identity sequences, views,
    free-standing sequences, functions. PostGIS's own objects stay with the extension's owner."""
    not_extension = ("NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = {cat}::regclass AND d.objid = {oid} "
                     "AND d.deptype = 'e')")
    cur.execute(f"""
        SELECT c.relkind, format('%%I.%%I', n.nspname, c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          AND pg_get_userbyid(c.relowner) <> %s
          AND {not_extension.format(cat="'pg_class'", oid="c.oid")}
          -- sequences that belong to a column follow their table
          AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                   AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
        ORDER BY c.relkind <> 'S'""", [owner])
    kinds = {"r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW",
             "S": "SEQUENCE"}
    statements = [f"ALTER {kinds[kind]} {name} OWNER TO {{}}" for kind, name in cur.fetchall()]
    cur.execute(f"""
        SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> %s
          AND {not_extension.format(cat="'pg_proc'", oid="p.oid")}""", [owner])
    statements += [f"ALTER ROUTINE {signature} OWNER TO {{}}" for (signature,) in cur.fetchall()]
    for statement in statements:
        cur.execute(sql.SQL(statement).format(_ident(owner)))
    return len(statements)


def create_database(name: str, *, replace: bool = False, must_be_new: bool = False) -> list[str]:
    """As the administrator: the roles, the database `name` owned by the owner role with PostGIS, and an
    existing database converted to that ownership without touching its data. `replace` drops it first (the
    test database); `must_be_new` refuses an existing one (restore). Returns what was done, one line each."""
    owner = role_name(OWNER)
    admin = connect(ADMIN, "postgres", autocommit=True)  # CREATE DATABASE cannot run in a transaction
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
            user, superuser = cur.fetchone()
            if not superuser:  # PostGIS is not a trusted extension: only a superuser creates it
                raise NoAdministrator(f"{user} is not a PostgreSQL superuser")
            # One set-up at a time on this server (the test workers each make their database at once: two
            # ALTER ROLE of one role at the same moment fail with "tuple concurrently updated").
            cur.execute("SELECT pg_advisory_lock(hashtext('citygrid_create_database'))")
            done = ensure_roles(cur)
            if replace:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(_ident(name)))
            cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [name])
            row = cur.fetchone()
            if row is not None and must_be_new:
                raise RolesError(f'database "{name}" already exists')
            if row is None:
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(_ident(name), _ident(owner)))
                done.append(f"created database {name}")
            elif row[0] != owner:
                cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(_ident(name), _ident(owner)))
                done.append(f"database {name}: owner {row[0]} → {owner}")
    except psycopg2.Error as exc:
        raise RolesError(f"database {name}: {str(exc).strip().splitlines()[0]}") from exc
    finally:
        admin.close()
    conn = connect(ADMIN, name, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            # pgRouting (the pipe networks' graph questions) is not a trusted extension either.
            cur.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
            converted = _convert_ownership(cur, owner)
            if converted:
                done.append(f"database {name}: {converted} objects given to the owner role {owner}")
            apply_database_privileges(cur, name)
    except psycopg2.Error as exc:
        reason = str(exc).strip().splitlines()[0]
        hint = (" (install PostGIS for this PostgreSQL: Debian postgresql-<version>-postgis-3)"
                if "postgis" in reason else
                " (install pgRouting for this PostgreSQL: Debian postgresql-<version>-pgrouting)"
                if "pgrouting" in reason else "")
        raise RolesError(f"database {name}: {reason}{hint}") from exc
    finally:
        conn.close()
    return done


def drop_database(name: str) -> None:
    """As the administrator: the test database after the tests, with whatever connections its test servers
    left open."""
    conn = connect(ADMIN, "postgres", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_ident(name)))
    finally:
        conn.close()


# --- the owner's part: grants, checked and applied -------------------------------------------------------------

# Tables partitioned by month: each partition (NAME_pYYYYMM, NAME_default) holds its parent's grants.
PARTITION_NAME = re.compile(r"^(?P<parent>.+)_(p\d{6}|default)$")


# Partitioned tables whose rows are written through the parent only: a row written to a partition directly would
# skip the parent's statement triggers (the case keys, the tallies). Their partitions are read-only.
WRITTEN_THROUGH_PARENT = frozenset({"incidents_case", "incidents_caselog"})


def declared(table: str) -> frozenset[str]:
    """The privileges the runtime role holds on `table` (on a partition, those of its parent, read-only for the
    tables written through their parents)."""
    match = PARTITION_NAME.match(table)
    if match and match["parent"] in WRITTEN_THROUGH_PARENT:
        return READ_ONLY
    if table not in TABLE_GRANTS and match and match["parent"] in TABLE_GRANTS:
        table = match["parent"]
    return TABLE_GRANTS.get(table, OPERATIONAL)


def apply_database_privileges(cur, name: str) -> None:
    """Who may connect, make temporary tables (the generated history uses one) and create in the schema:
    nobody but the three roles connects, nobody but the owner creates."""
    runtime, backup = _ident(role_name(RUNTIME)), _ident(role_name(BACKUP))
    for statement in ("REVOKE ALL ON DATABASE {db} FROM PUBLIC",
                      "GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {runtime}",
                      "GRANT CONNECT ON DATABASE {db} TO {backup}",
                      "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                      "GRANT USAGE ON SCHEMA public TO {runtime}, {backup}"):
        cur.execute(sql.SQL(statement).format(db=_ident(name), runtime=runtime, backup=backup))


_RELATIONS = """
    SELECT c.oid, c.relname, c.relkind, pg_get_userbyid(c.relowner),
           EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                   AND d.deptype = 'e') AS in_extension,
           COALESCE((SELECT array_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                    ELSE pg_get_userbyid(a.grantee) END)
                     FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner), '{}') AS grantees
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
    ORDER BY c.relname"""


def _privileges(cur, role: str, oid: int, kind: str) -> frozenset[str]:
    """What `role` can do on a relation, all sources counted (direct grants, PUBLIC, memberships, superuser)."""
    if kind == "S":
        cur.execute("SELECT p FROM unnest(%s::text[]) p WHERE has_sequence_privilege(%s, %s::oid, p)",
                    [list(SEQUENCE_PRIVILEGES), role, oid])
    else:
        cur.execute("SELECT p FROM unnest(%s::text[]) p WHERE has_table_privilege(%s, %s::oid, p)",
                    [list(TABLE_PRIVILEGES), role, oid])
    return frozenset(p for (p,) in cur.fetchall())


def _fmt(privileges: frozenset[str]) -> str:
    order = TABLE_PRIVILEGES + SEQUENCE_PRIVILEGES
    return ", ".join(sorted(privileges, key=order.index)) or "nothing"


def differences(cur) -> list[str]:
    """Everything in the connected database that differs from the declared roles and grants, one line each:
    the runtime role's attributes and memberships, any relation owned by another role than the owner, or
    whose runtime or backup privileges differ from the declaration, or granted to anyone else; definer
    functions callable by others. Empty when all is as declared."""
    owner, runtime, backup = role_name(OWNER), role_name(RUNTIME), role_name(BACKUP)
    problems = []
    cur.execute("SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
                "FROM pg_roles WHERE rolname = ANY(%s)", [[owner, runtime, backup]])
    attributes = {row[0]: row[1:] for row in cur.fetchall()}
    for kind, name in ((OWNER, owner), (RUNTIME, runtime), (BACKUP, backup)):
        if name not in attributes:
            problems.append(f"the {kind} role {name} does not exist")
            continue
        held = [a for a, on in zip(("SUPERUSER", "CREATEDB", "CREATEROLE", "REPLICATION", "BYPASSRLS"),
                                   attributes[name], strict=True) if on]
        if held:
            problems.append(f"the {kind} role {name} has {', '.join(held)}")
    if problems:
        return problems
    if len({owner, runtime, backup}) < 3:
        return [f"the owner, runtime and backup roles must differ (owner {owner}, runtime {runtime}, "
                f"backup {backup})"]
    # Memberships would bring another role's rights (the owner's, or pg_write_all_data's) to the runtime role.
    cur.execute("SELECT rolname FROM pg_roles WHERE rolname NOT IN (%s, 'pg_database_owner') "
                "AND pg_has_role(%s, oid, 'MEMBER')", [runtime, runtime])
    for (other,) in cur.fetchall():
        problems.append(f"the runtime role {runtime} is a member of {other}")
    cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
    if (db_owner := cur.fetchone()[0]) != owner:
        problems.append(f"the database is owned by {db_owner}, not the owner role {owner}")
    cur.execute(_RELATIONS)
    for oid, name, kind, rel_owner, in_extension, grantees in cur.fetchall():
        if in_extension:  # PostGIS's tables and views (spatial_ref_sys…): read at most
            extra = _privileges(cur, runtime, oid, kind) - READ_ONLY
            if extra:
                problems.append(f"{name}: the runtime role may {_fmt(extra)} on an extension's table")
            continue
        if rel_owner != owner:
            problems.append(f"{name}: owned by {rel_owner}, not the owner role {owner}")
        wanted = SEQUENCE_GRANTS if kind == "S" else declared(name)
        has = _privileges(cur, runtime, oid, kind)
        if has != wanted:
            problems.append(f"{name}: the runtime role may {_fmt(has)}; declared: {_fmt(wanted)}")
        has = _privileges(cur, backup, oid, kind)
        if has != BACKUP_GRANTS:
            problems.append(f"{name}: the backup role may {_fmt(has)}; declared: {_fmt(BACKUP_GRANTS)}")
        others = set(grantees) - {runtime, backup}
        if others:
            problems.append(f"{name}: also granted to {', '.join(sorted(others))}")
    cur.execute("""
        SELECT p.proname, p.oid::regprocedure::text, pg_get_userbyid(p.proowner),
               has_function_privilege('public', p.oid, 'EXECUTE'), has_function_privilege(%s, p.oid, 'EXECUTE')
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.prosecdef AND NOT EXISTS (SELECT 1 FROM pg_depend d
              WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')""", [runtime])
    found = set()
    for name, signature, fn_owner, public, runtime_may in cur.fetchall():
        found.add(name)
        if fn_owner != owner:
            problems.append(f"{signature}: a SECURITY DEFINER function owned by {fn_owner}, not {owner}")
        if public:
            problems.append(f"{signature}: a SECURITY DEFINER function anyone may call")
        if runtime_may != (name in DEFINER_FUNCTIONS):
            problems.append(f"{signature}: the runtime role {'may' if runtime_may else 'may not'} call it; "
                            f"declared: {'may' if name in DEFINER_FUNCTIONS else 'may not'}")
    for name in set(DEFINER_FUNCTIONS) - found:
        problems.append(f"{name}: the SECURITY DEFINER function is missing")
    # The archive of old cases (incidents.archive): the backup role reads it, the runtime role has no way in.
    cur.execute("SELECT has_schema_privilege(%s, n.oid, 'USAGE'), has_schema_privilege(%s, n.oid, 'USAGE'), "
                "(SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p') "
                "AND NOT has_table_privilege(%s, c.oid, 'SELECT')) FROM pg_namespace n WHERE n.nspname = 'archive'",
                [runtime, backup, backup])
    for runtime_in, backup_in, unreadable in cur.fetchall():
        if runtime_in:
            problems.append(f"archive: the runtime role {runtime} may use the schema of archived cases")
        if not backup_in or unreadable:
            problems.append(f"archive: the backup role {backup} cannot read {unreadable or 'any'} of its tables")
    return problems


def _runtime_is_separate(cur) -> bool:
    """False in a layout without roles of their own (the runtime role is the owner, or a superuser): there,
    grants mean nothing, and check_grants says so."""
    runtime, owner = role_name(RUNTIME), role_name(OWNER)
    if runtime == owner:
        return False
    cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [runtime])
    row = cur.fetchone()
    return row is not None and not row[0]


def apply_grants(cur) -> list[str]:
    """As the owner: give each relation exactly the declared grants (revoking anything else, PUBLIC's
    included), set the default privileges of the owner's future tables and sequences, and let only the runtime
    role call the definer functions. Touches only what differs; returns the relations it changed."""
    owner, runtime, backup = role_name(OWNER), role_name(RUNTIME), role_name(BACKUP)
    if not _runtime_is_separate(cur):
        return []
    cur.execute("SELECT current_database()")
    apply_database_privileges(cur, cur.fetchone()[0])
    ident = {"owner": _ident(owner), "runtime": _ident(runtime), "backup": _ident(backup)}
    for statement in (
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {runtime}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT SELECT ON TABLES TO {backup}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT USAGE ON SEQUENCES TO {runtime}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT SELECT ON SEQUENCES TO {backup}"):
        cur.execute(sql.SQL(statement).format(**ident))
    # Each relation of the owner with its grants to others, one row per grantee and privilege.
    cur.execute("""
        SELECT c.relname, c.relkind, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
               a.privilege_type
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN LATERAL aclexplode(c.relacl) a ON a.grantee <> c.relowner
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          AND pg_get_userbyid(c.relowner) = %s""", [owner])
    relations: dict[str, tuple[str, set[tuple[str, str]]]] = {}
    for name, kind, grantee, privilege in cur.fetchall():
        acl = relations.setdefault(name, (kind, set()))[1]
        if grantee is not None:
            acl.add((grantee, privilege))
    changed = []
    for name, (kind, acl) in sorted(relations.items()):
        runtime_wanted = SEQUENCE_GRANTS if kind == "S" else declared(name)
        wanted = {(runtime, p) for p in runtime_wanted} | {(backup, p) for p in BACKUP_GRANTS}
        if acl == wanted:
            continue
        table = sql.Identifier("public", name)
        what = sql.SQL("SEQUENCE" if kind == "S" else "TABLE")
        for grantee in sorted({g for g, _ in acl} | {runtime, backup}):
            cur.execute(sql.SQL("REVOKE ALL ON {} {} FROM {}").format(
                what, table, sql.SQL("PUBLIC") if grantee == "PUBLIC" else _ident(grantee)))
        cur.execute(sql.SQL("GRANT {} ON {} {} TO {}").format(
            sql.SQL(", ").join(sql.SQL(p) for p in sorted(runtime_wanted)), what, table, ident["runtime"]))
        cur.execute(sql.SQL("GRANT SELECT ON {} {} TO {}").format(what, table, ident["backup"]))
        changed.append(name)
    cur.execute("SELECT p.oid::regprocedure::text, p.proname FROM pg_proc p JOIN pg_namespace n "
                "ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND p.prosecdef AND p.proowner = "
                "(SELECT oid FROM pg_roles WHERE rolname = %s)", [owner])
    for signature, name in cur.fetchall():
        # regprocedure text is already quoted where needed
        cur.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        if name in DEFINER_FUNCTIONS:
            cur.execute(sql.SQL(f"GRANT EXECUTE ON FUNCTION {signature} TO {{}}").format(ident["runtime"]))
    apply_archive_grants(cur)
    return changed


def apply_archive_grants(cur) -> None:
    """As the owner: the schema `archive` (old months of cases, incidents.archive), when there is one, is read by
    the backup role (pg_dump reads everything) and by nobody else: the runtime role has no way in."""
    if not _runtime_is_separate(cur):  # one role for all: nothing to keep apart (and no USAGE to take from it)
        return
    cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'archive'")
    if cur.fetchone() is None:
        return
    backup, runtime = _ident(role_name(BACKUP)), _ident(role_name(RUNTIME))
    for statement in ("REVOKE ALL ON SCHEMA archive FROM PUBLIC", "REVOKE ALL ON SCHEMA archive FROM {runtime}",
                      "GRANT USAGE ON SCHEMA archive TO {backup}",
                      "GRANT SELECT ON ALL TABLES IN SCHEMA archive TO {backup}"):
        cur.execute(sql.SQL(statement).format(backup=backup, runtime=runtime))


def apply_grants_after_migrate(using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate: migrate runs as the owner (the `migrate` command), so it can grant on what it made."""
    with connections[using].cursor() as cur:
        apply_grants(cur)


def analyze(*tables: str) -> None:
    """Refresh the planner's statistics after bulk changes. Only a table's owner may ANALYZE (PostgreSQL 15),
    so the runtime role asks the owner's definer function, which analyzes the application's tables only."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT citygrid_analyze(%s)", [list(tables)])
