"""The product's own Mosquitto: its configuration, password file and ACL written from the sensor registry.

Every device has its own account (its sensor code) and may publish only to its own topic; a gateway account
(monitoring.models.Gateway, the same key as its HTTP token) may publish for its bureau's sensors; the ingest
service's account may only read. Anonymous clients are refused. Passwords are never stored: mosquitto_passwd
hashes them when they are issued, and the hashes are what the password file is written from."""

import getpass
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from .models import TOPIC_PREFIX, Gateway, Sensor, is_reserved_code, topic_for

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The broker cannot be configured or started; the message is one readable line."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


def endpoint(url: str | None = None) -> Endpoint:
    parts = urlsplit(url or settings.MQTT_URL)
    if parts.scheme not in ("mqtt", "tcp"):
        raise BrokerError(f"MQTT_URL must be mqtt://host:port, not {url or settings.MQTT_URL!r}")
    return Endpoint(parts.hostname or "127.0.0.1", parts.port or 1883)


def _tool(name: str) -> str:
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)),
                                       None)
    if not found:
        raise BrokerError(f"{name} is not installed: apt-get install mosquitto")
    return found


def hash_passwords(passwords: dict[str, str]) -> dict[str, str]:
    """user → mosquitto's hash of the password, all at once (mosquitto_passwd -U on a private file)."""
    if not passwords:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "passwd"
        path.write_text("".join(f"{user}:{password}\n" for user, password in passwords.items()))
        subprocess.run([_tool("mosquitto_passwd"), "-U", str(path)], check=True, capture_output=True, timeout=600)
        return dict(line.split(":", 1) for line in path.read_text().splitlines() if ":" in line)


def issue_sensor_passwords(sensors: list[Sensor]) -> dict[str, str]:
    """New broker passwords for these sensors (returned once, only their hashes kept)."""
    passwords = {s.code: secrets.token_urlsafe(18) for s in sensors}
    hashes = hash_passwords(passwords)
    for s in sensors:
        s.mqtt_hash = hashes[s.code]
    Sensor.objects.bulk_update(sensors, ["mqtt_hash"], batch_size=1000)
    return passwords


def ingest_password(directory: Path | None = None) -> str:
    """The ingest service's broker password, made once and kept beside the broker's files (mode 600)."""
    path = Path(directory or settings.MQTT_DIR) / "ingest_password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def _device_codes() -> list[str]:
    """Active sensors with a key, never under another account's name (validate_code refuses such codes; a row
    written around it still gets no account here)."""
    codes = Sensor.objects.filter(active=True).exclude(mqtt_hash="").values_list("code", flat=True)
    return [c for c in codes if not is_reserved_code(c)]


def acl_text(registry: bool = True) -> str:
    """The ACL: the ingest reads every sensor topic; each device writes its own; a gateway its bureau's."""
    prefix = topic_for("")
    lines = [f"user {settings.MQTT_INGEST_USER}", f"topic read {prefix}+", ""]
    if not registry:
        return "\n".join(lines)
    for code in _device_codes():
        lines += [f"user {code}", f"topic write {topic_for(code)}", ""]
    for gateway in Gateway.objects.filter(active=True).exclude(mqtt_hash=""):
        lines.append(f"user gateway-{gateway.code}")
        if gateway.bureau_id is None:
            lines.append(f"topic write {prefix}+")
        else:
            lines += [f"topic write {topic_for(code)}" for code in
                      Sensor.objects.filter(owner_id=gateway.bureau_id, active=True).values_list("code", flat=True)]
        lines.append("")
    return "\n".join(lines)


def _ingest_row(directory: Path) -> str:
    """The ingest's line of the password file: kept as it is once made (a fresh salt would change the file at
    every write, and `sync` compares files to know whether the broker must reload)."""
    user = settings.MQTT_INGEST_USER
    try:
        for line in (directory / "passwd").read_text().splitlines():
            if line.startswith(f"{user}:"):
                return line
    except OSError:
        pass
    return f"{user}:{hash_passwords({user: ingest_password(directory)})[user]}"


def passwd_text(directory: Path, registry: bool = True) -> str:
    ingest_password(directory)
    rows = [_ingest_row(directory)]
    if not registry:
        return "\n".join(rows) + "\n"
    hashes = dict(Sensor.objects.filter(active=True).exclude(mqtt_hash="").values_list("code", "mqtt_hash"))
    rows += [f"{c}:{hashes[c]}" for c in _device_codes()]
    rows += [f"gateway-{c}:{h}" for c, h in Gateway.objects.filter(active=True).exclude(mqtt_hash="")
             .values_list("code", "mqtt_hash")]
    return "\n".join(rows) + "\n"


def conf_text(directory: Path, port: int, host: str = "127.0.0.1") -> str:
    return f"""# Written by CityGrid (manage.py mqtt_broker); rewritten from the sensor registry.
per_listener_settings false
allow_anonymous false
password_file {directory / 'passwd'}
acl_file {directory / 'acl'}
listener {port} {host}
# The ingest's persistent session keeps what arrives while it restarts; the broker keeps it across its own.
persistence true
persistence_location {directory / 'data'}/
autosave_interval 30
max_queued_messages 0
max_queued_bytes 0
# A batch is acknowledged after it is committed: this many may be in flight to the ingest (two batches of
# single readings, the next one ready while one is stored), and the rest wait in the broker's queue, not in the
# ingest's memory. Whatever is in flight when the connection drops comes again: a larger window is only more to
# receive twice.
max_inflight_messages {2 * settings.INGEST_BATCH_MAX}
log_dest file {directory / 'mosquitto.log'}
log_type error
log_type warning
log_type notice
# information: 'Reloading config.', which reload() waits for
log_type information
pid_file {directory / 'mosquitto.pid'}
# Started as root, mosquitto would become 'mosquitto', who cannot read these private files: stay their owner.
user {getpass.getuser()}
"""


def sync(directory: Path | None = None, port: int | None = None) -> bool:
    """Write the files again when the registry changed them, and make the running broker read them; whether it
    did. The scheduler runs this every minute, so a sensor added or switched off in the admin or by an import
    gets (or loses) its broker account without anyone restarting anything."""
    directory = Path(directory or settings.MQTT_DIR).resolve()
    port = port or endpoint().port
    wanted = {"passwd": passwd_text(directory), "acl": acl_text(), "mosquitto.conf": conf_text(directory, port)}
    try:
        same = all((directory / name).read_text() == text for name, text in wanted.items())
    except OSError:
        same = False
    if same:
        return False
    write_config(directory, port)
    reload(directory)
    return True


def write_config(directory: Path | None = None, port: int | None = None, *, registry: bool = True) -> Path:
    """Write mosquitto.conf, passwd and acl (each replaced whole, private to this user); returns the conf. Without
    the registry: the ingest's account only (a broker started before the database exists)."""
    directory = Path(directory or settings.MQTT_DIR).resolve()
    port = port or endpoint().port
    (directory / "data").mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    for name, text in (("passwd", passwd_text(directory, registry)), ("acl", acl_text(registry)),
                       ("mosquitto.conf", conf_text(directory, port))):
        tmp = directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, directory / name)
    return directory / "mosquitto.conf"


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid(directory: Path) -> int | None:
    try:
        pid = int((directory / "mosquitto.pid").read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def start(directory: Path | None = None, port: int | None = None, *, registry: bool = True) -> str:
    """Write the files and start the broker where none answers on the port; reload it where ours runs."""
    directory = Path(directory or settings.MQTT_DIR).resolve()
    where = endpoint()
    port = port or where.port
    conf = write_config(directory, port, registry=registry)
    if answers(where.host, port):
        if _pid(directory):
            reload(directory)
            return f"mosquitto on {where.host}:{port}: configuration reloaded"
        # Not this installation's broker (another checkout's, an operator's own): of use only if it takes this
        # installation's ingest account; otherwise the ingest would be refused for as long as it ran.
        try:
            open_ingest_session(where.host, port, directory)
        except (BrokerError, OSError) as exc:
            raise BrokerError(f"another broker answers on {where.host}:{port} and does not take this installation's "
                              f"ingest account ({exc}): stop it, or set MQTT_URL to a free port") from None
        return f"something already answers on {where.host}:{port} and takes the ingest's account: not starting another"
    subprocess.run([_tool("mosquitto"), "-c", str(conf), "-d"], check=True, capture_output=True, timeout=30)
    for _ in range(50):
        if answers(where.host, port):
            open_ingest_session(where.host, port, directory)
            return f"mosquitto started on {where.host}:{port}"
        time.sleep(0.1)
    raise BrokerError(f"mosquitto did not start on port {port}: see {directory / 'mosquitto.log'}")


def open_ingest_session(host: str, port: int, directory: Path) -> None:
    """Make sure the ingest's persistent session exists and is subscribed before any device is heard: a broker
    keeps readings only for a session it knows, and on a broker's first start the ingest (a Django process,
    seconds to start) may connect after the first devices publish — whatever came before would be dropped. A
    session already there (kept on disk across restarts) is left as it is."""
    import threading

    import paho.mqtt.client as mqtt

    from .ingest import MqttIngest

    subscribed = threading.Event()
    # Acknowledging nothing: readings the session already holds may reach this client before it leaves, and they
    # must stay unacknowledged, to be delivered again to the ingest itself.
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=MqttIngest.CLIENT_ID, clean_session=False,
                         protocol=mqtt.MQTTv311, manual_ack=True)
    client.username_pw_set(settings.MQTT_INGEST_USER, ingest_password(directory))

    refused: list[str] = []

    def connected(client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            refused.append(str(reason_code))
            subscribed.set()
            return
        if flags.session_present:
            subscribed.set()
        else:
            client.subscribe(TOPIC_PREFIX + "+", qos=1)

    client.on_connect = connected
    client.on_subscribe = lambda *args: subscribed.set()
    try:
        client.connect(host, port, keepalive=10)
        client.loop_start()
        if not subscribed.wait(10) or refused:
            raise BrokerError(f"the ingest's session could not be opened on {host}:{port}"
                              + (f": {refused[0]}" if refused else ""))
    finally:
        client.disconnect()
        client.loop_stop()


def reload(directory: Path | None = None, wait: float = 5.0) -> bool:
    """Make the running broker read its password file and ACL again (SIGHUP), and wait until it has: mosquitto
    handles the signal in its loop and logs 'Reloading config.' there, before it serves anyone again — so a
    device connecting after this returns meets the new accounts (no sleep and hope)."""
    directory = Path(directory or settings.MQTT_DIR).resolve()
    pid = _pid(directory)
    if pid is None:
        return False
    log_file = directory / "mosquitto.log"
    try:
        offset = log_file.stat().st_size
    except OSError:
        offset = 0
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with log_file.open("rb") as f:
                f.seek(offset)
                if b"Reloading config" in f.read():
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    # A broker still on files written before 'log_type information' says nothing: it has the signal all the same.
    log.warning("mosquitto (pid %s) did not log its reload within %.0f s", pid, wait)
    return True


def stop(directory: Path | None = None) -> bool:
    pid = _pid(Path(directory or settings.MQTT_DIR).resolve())
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    # Mosquitto writes its queues to disk as it stops: wait for that (a queue of thousands of readings under load
    # took longer than the 5 s waited before, and a broker started meanwhile found the old one still there).
    for _ in range(600):
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.1)
    return False
