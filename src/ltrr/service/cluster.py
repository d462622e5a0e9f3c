"""A local cluster: N ``ltrr serve`` replicas on one shared PostgreSQL log, behind one address.

Each replica gets its own copy of one prepared directory: ``DIR/replicas/r0``, ``r1``, ...
hold a consistent copy of its database (SQLite's online backup), its saved indexes, models and
settings. A copy is made once and reused, and made again when the source's SQLite catalog
version changed. With the catalog in the directory (the default) the replicas serve copies of
it; with a PostgreSQL catalog (``$LTRR_CATALOG_URL``, inherited) they share it and catch
their indexes up from its versions (docs/scale.md). The event log is
shared: every replica appends to the same PostgreSQL schema and follows it, so they learn as
one. A SQLite log cannot be shared across data directories, so any other log URL is refused.
Replicas also share state through Redis (``storage.shared``; the local one unless told
otherwise): one trains the ranker and all serve its model, one snapshots and a replica that
starts fetches the snapshot instead of folding the whole log.

The front address is HAProxy (Debian's ``haproxy``), run in the foreground as a child
process: round robin per request, a health check on ``/healthz`` every 500 ms, and a request
that found a dead replica (connection refused, closed before a whole answer) retried on
another. Retrying is safe here: feedback carries its action id (a repeat is stored once) and
a search that got no answer was not acknowledged. The answering replica is named in the
``x-ltrr-replica`` response header.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from ltrr.config import StorageConfig
from ltrr.errors import ConfigError, StorageError
from ltrr.storage.sqlite import DB_NAME

logger = logging.getLogger(__name__)

#: The local PostgreSQL a cluster's log goes to when no URL is given (its ``postgres``
#: database always exists; the schema is named after the data directory).
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
#: The local Redis a cluster shares state through when no URL is given.
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
#: ``--state-url`` value that turns shared state off.
NO_STATE = "none"
REPLICAS_DIR = "replicas"
#: What a replica copies from the source directory besides its database.
COPIED = ("indexes", "models", "ltrr.toml")
STAMP = "replica.json"
HAPROXY = "haproxy"
START_TIMEOUT_S = 300.0


# -- the log URL -------------------------------------------------------------------------------


def schema_for(data: Path) -> str:
    """``ltrr_<directory name>`` as a lower-case identifier (PostgreSQL allows 63 bytes)."""
    name = re.sub(r"[^a-z0-9_]+", "_", data.resolve().name.lower()).strip("_") or "data"
    return f"ltrr_{name}"[:63]


def cluster_log_url(url: str, data: Path) -> str:
    """The shared log's URL: ``url`` (``LOCAL_POSTGRES`` if empty), with ``?schema=`` named
    after ``data`` unless it names one. Raises ``ConfigError`` unless it is PostgreSQL."""
    parts = urlsplit(url or LOCAL_POSTGRES)
    if parts.scheme not in ("postgresql", "postgres"):
        shown = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1], query=""))
        raise ConfigError(
            f"a cluster's replicas share one event log, which must be on PostgreSQL "
            f"(postgresql://[user@]host[:port]/database[?schema=NAME]); got {shown!r}: a SQLite "
            "log cannot be shared by replicas on separate data directories"
        )
    query = dict(parse_qsl(parts.query))
    query.setdefault("schema", schema_for(data))
    return urlunsplit(parts._replace(query=urlencode(query)))


def shown_url(url: str) -> str:
    """``url`` without a password, for printing."""
    parts = urlsplit(url)
    user, at, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.split(':', 1)[0]}{at}{host}"))


# -- replica data directories ------------------------------------------------------------------


def catalog_version(data: Path) -> int:
    """The catalog version of the data directory at ``data`` (read-only)."""
    db = data / DB_NAME
    if not db.is_file():
        raise StorageError(f"{data} holds no catalog ({DB_NAME} is missing); run ltrr ingest")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'catalog_version'").fetchone()
    return int(row[0]) if row else 0


def prepare_replicas(data: Path, n_replicas: int) -> list[Path]:
    """``DATA/replicas/r0`` ... ``r{n-1}``: copies of ``data``'s catalog, indexes, models and
    settings, made again only where the source's catalog version changed."""
    version = catalog_version(data)
    paths = [data / REPLICAS_DIR / f"r{i}" for i in range(n_replicas)]
    for path in paths:
        if _stamped_version(path) != version:
            logger.info("copying %s into replica %s (catalog version %d)", data, path, version)
            _copy(data, path, version)
    return paths


def _stamped_version(path: Path) -> int | None:
    try:
        return int(json.loads((path / STAMP).read_text())["catalog_version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _copy(source: Path, target: Path, version: int) -> None:
    """Write the copy beside ``target``, then move it into place (a half copy is never used)."""
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with (
        sqlite3.connect(f"file:{source / DB_NAME}?mode=ro", uri=True) as src,
        sqlite3.connect(partial / DB_NAME) as dst,
    ):
        src.backup(dst)  # consistent even while the source is being written (WAL)
    for name in COPIED:
        if (source / name).is_dir():
            shutil.copytree(source / name, partial / name)
        elif (source / name).is_file():
            shutil.copy2(source / name, partial / name)
    stamp = {"source": str(source.resolve()), "catalog_version": version}
    (partial / STAMP).write_text(json.dumps(stamp) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)


# -- the proxy ---------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def haproxy_config(host: str, port: int, replica_ports: list[int]) -> str:
    """Round robin per request over the replicas, health-checked on ``/healthz``.

    A dead replica refuses the check's connection and is out after two checks (about 1 s); a
    live one may take up to 5 s to answer (a loaded host: with the check's default timeout of
    one interval, 500 ms, a busy lone replica was taken out and every request got a 503)."""
    servers = "\n".join(f"    server r{i} 127.0.0.1:{p} check" for i, p in enumerate(replica_ports))
    return f"""\
global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 120s
    retries 2
    option redispatch 1
    retry-on all-retryable-errors

frontend ltrr
    bind {host}:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /healthz
    timeout check 5s
    default-server inter 500ms fall 2 rise 1
    http-response set-header x-ltrr-replica %[srv_name]
{servers}
"""


def find_haproxy() -> str:
    """The ``haproxy`` executable; ``ConfigError`` with the install line if it is missing."""
    found = shutil.which(HAPROXY) or next(
        (p for p in ("/usr/sbin/haproxy", "/sbin/haproxy") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise ConfigError(
            "ltrr cluster needs HAProxy for its front address: apt-get install -y haproxy"
        )
    return found


# -- the processes -----------------------------------------------------------------------------


@dataclass
class Child:
    """One process of the cluster: a replica or the proxy."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def tail(self, n_chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""


def cluster_state_url(url: str | None, configured: str) -> str:
    """The Redis replicas share state through: ``url`` (``"none"``: none), else
    ``configured`` (``$LTRR_STATE_URL`` or ``[storage] state_url``), else the local one; a
    server that does not answer is a ``StorageError`` before any replica starts."""
    chosen = "" if url == NO_STATE else (url or configured or LOCAL_REDIS)
    if chosen:
        from ltrr.storage.redis_state import RedisSharedState

        StorageConfig(state_url=chosen)  # a bad scheme is a ConfigError naming the setting
        RedisSharedState(chosen, "ltrr:cluster-check:").close()
    return chosen


def start_replica(
    name: str,
    data: Path,
    port: int,
    log_url: str,
    config: Path | None,
    log: Path,
    state_url: str = "",
) -> Child:
    """``ltrr serve`` on ``data`` at 127.0.0.1:``port``, its log at ``log_url``, sharing state
    through ``state_url`` (``""``: none)."""
    command = [sys.executable, "-m", "ltrr.cli.app", "serve", "--data", str(data)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    if config is not None:
        command += ["--config", str(config)]
    env = {**os.environ, "LTRR_LOG_URL": log_url, "LTRR_STATE_URL": state_url}
    return _spawn(name, command, env, f"http://127.0.0.1:{port}", log)


def start_proxy(host: str, port: int, replica_ports: list[int], folder: Path) -> Child:
    """HAProxy in the foreground (``-db``) with its config written into ``folder``."""
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(host, port, replica_ports))
    command = [find_haproxy(), "-db", "-f", str(config)]
    return _spawn("proxy", command, dict(os.environ), f"http://{host}:{port}", folder / "proxy.log")


def _spawn(name: str, command: list[str], env: dict[str, str], url: str, log: Path) -> Child:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:  # its own session: Ctrl-C reaches the cluster, which stops it
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Child(name, process, url, log)


def wait_ready(children: list[Child], path: str, timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until every child answers 200 on ``path``; ``StorageError`` naming the one that
    exited or did not answer in time, with the end of its output."""
    deadline = time.monotonic() + timeout_s
    waiting = list(children)
    while waiting:
        child = waiting[0]
        if child.process.poll() is not None:
            raise StorageError(
                f"{child.name} exited with code {child.process.returncode} while starting:\n"
                f"{child.tail()}"
            )
        try:
            if httpx.get(child.url + path, timeout=2.0).status_code == 200:
                waiting.pop(0)
                continue
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise StorageError(f"{child.name} was not ready after {timeout_s:.0f} s")
        time.sleep(0.1)


def stop(children: list[Child], timeout_s: float = 20.0) -> None:
    """SIGTERM to every live child (replicas snapshot and close their log), SIGKILL to any
    still running after ``timeout_s``."""
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for child in children:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
