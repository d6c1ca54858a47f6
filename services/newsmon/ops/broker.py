"""A local single-node Apache Kafka 4.x (KRaft) broker run from Maven Central's jars.

`newsmon broker start` fetches the jars once (cached under ~/.cache/newsmon), formats the
storage once, starts the broker in the background and waits until it answers a metadata
request. Broker data, logs and the pid file live under the state folder.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

from newsmon.core.config import Settings
from newsmon.ops import procs
from newsmon.ops.paths import deploy_dir, state_path

KAFKA_MAIN = "kafka.Kafka"


class BrokerError(RuntimeError):
    """The local broker could not be set up or started; the message says what to do."""


def jars_cache_dir() -> Path:
    base = os.environ.get("NEWSMON_KAFKA_LIBS")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "newsmon" / "kafka"


@dataclass(frozen=True)
class BrokerPaths:
    root: Path
    data: Path
    config: Path
    pidfile: Path
    logfile: Path
    cluster_id: Path


def broker_paths(settings: Settings) -> BrokerPaths:
    root = state_path(settings, "kafka", "x").parent
    return BrokerPaths(
        root=root,
        data=root / "data",
        config=root / "server.properties",
        pidfile=root / "broker.pid",
        logfile=root / "broker.log",
        cluster_id=root / "cluster.id",
    )


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BrokerError(f"`{tool}` was not found on PATH. {hint}")
    return path


def fetch_jars(quiet: bool = False) -> Path:
    """Fetch kafka_2.13 and its runtime dependencies with Maven, once; return the libs folder."""
    pom = deploy_dir() / "kafka" / "pom.xml"
    libs = jars_cache_dir() / "libs"
    stamp = libs / ".complete"
    if stamp.exists() and stamp.read_text() == pom.read_text():
        return libs
    java_hint = "Install a Java 17+ runtime, e.g. `apt-get install -y openjdk-17-jre-headless`."
    _require("java", java_hint)
    mvn = _require("mvn", "Install Maven, e.g. `apt-get install -y maven`.")
    if not quiet:
        print("newsmon: fetching Apache Kafka jars from Maven Central (once) ...", flush=True)
    tmp = libs.with_name("libs.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={tmp}",
        "-DincludeScope=runtime",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise BrokerError(
            "Maven could not fetch the Kafka jars (is Maven Central reachable?):\n"
            + (res.stdout + res.stderr)[-3000:]
        )
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    stamp.write_text(pom.read_text())
    return libs


def _classpath(libs: Path) -> str:
    return os.pathsep.join(str(p) for p in sorted(libs.glob("*.jar")))


def render_config(
    settings: Settings, paths: BrokerPaths, properties: Mapping[str, str] | None = None
) -> str:
    """server.properties for this state folder and these ports; `properties` come last and
    so replace the template's values of the same keys."""
    host = settings.broker_host
    listeners = [
        f"PLAINTEXT://{host}:{settings.broker_port}",
        f"CONTROLLER://{host}:{settings.controller_port}",
    ]
    advertised = [f"PLAINTEXT://{host}:{settings.broker_port}"]
    protocol_map = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
    sasl = ""
    if settings.broker_sasl_users:
        listeners.append(f"SASL_PLAINTEXT://{host}:{settings.broker_sasl_port}")
        advertised.append(f"SASL_PLAINTEXT://{host}:{settings.broker_sasl_port}")
        protocol_map.append("SASL_PLAINTEXT:SASL_PLAINTEXT")
        users = " ".join(
            f'user_{name}="{pw.get_secret_value()}"'
            for name, pw in sorted(settings.broker_sasl_users.items())
        )
        sasl = "\n".join(
            [
                "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};",
                "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            ]
        )
    template = Template((deploy_dir() / "kafka" / "server.properties.template").read_text())
    text = template.substitute(
        host=host,
        controller_port=settings.controller_port,
        listeners=",".join(listeners),
        advertised_listeners=",".join(advertised),
        protocol_map=",".join(protocol_map),
        sasl_config=sasl,
        log_dir=str(paths.data),
    )
    if properties:
        extra = "".join(f"{key}={value}\n" for key, value in properties.items())
        text = text.rstrip("\n") + "\n# Given at start (the last value of a key counts)\n" + extra
    return text


def _jvm(settings: Settings, libs: Path, main: str, *args: str) -> list[str]:
    log4j = deploy_dir() / "kafka" / "log4j2.properties"
    return [
        _require("java", "Install a Java 17+ runtime."),
        f"-Xmx{settings.broker_heap}",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-XX:TieredStopAtLevel=1",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={libs.parent}",
        "-cp",
        _classpath(libs),
        main,
        *args,
    ]


def new_cluster_id() -> str:
    """A Kafka cluster id (base64url of a UUID) that does not start with '-', which the
    storage tool's argument parser would take for an option."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _format_storage(settings: Settings, paths: BrokerPaths, libs: Path) -> None:
    if (paths.data / "meta.properties").exists():
        return
    if paths.cluster_id.exists():
        cluster_id = paths.cluster_id.read_text().strip()
    else:
        cluster_id = new_cluster_id()
        paths.cluster_id.write_text(cluster_id)
    args = ["format", f"--cluster-id={cluster_id}", "-c", str(paths.config), "--ignore-formatted"]
    for name, pw in sorted(settings.broker_sasl_users.items()):
        args += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={pw.get_secret_value()}]"]
    res = subprocess.run(
        _jvm(settings, libs, "kafka.tools.StorageTool", *args),
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise BrokerError(f"formatting Kafka storage failed:\n{(res.stdout + res.stderr)[-3000:]}")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


async def _metadata_ok(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        await admin.close()


def local_bootstrap(settings: Settings) -> str:
    return f"{settings.broker_host}:{settings.broker_port}"


def status(settings: Settings) -> int | None:
    """The broker's pid if it runs, else None."""
    return procs.running_pid(broker_paths(settings).pidfile, KAFKA_MAIN)


def start(
    settings: Settings,
    timeout: float = 90.0,
    quiet: bool = False,
    properties: Mapping[str, str] | None = None,
) -> str:
    """Start the local broker unless it runs; return its bootstrap address once it answers.
    `properties` replace the template's broker settings of the same keys."""
    paths = broker_paths(settings)
    bootstrap = local_bootstrap(settings)
    if status(settings) is not None:
        return bootstrap
    if _port_open(settings.broker_host, settings.broker_port):
        raise BrokerError(
            f"port {settings.broker_port} on {settings.broker_host} is in use by another "
            "process: stop it, or choose another port with NEWSMON_BROKER_PORT "
            "(and NEWSMON_CONTROLLER_PORT)."
        )
    libs = fetch_jars(quiet=quiet)
    paths.data.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(render_config(settings, paths, properties))
    _format_storage(settings, paths, libs)
    t0 = time.monotonic()
    proc = procs.spawn(
        _jvm(settings, libs, KAFKA_MAIN, str(paths.config)), paths.pidfile, paths.logfile
    )
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(
                f"the broker exited during start; last lines of {paths.logfile}:\n"
                + procs.tail(paths.logfile, 30)
            )
        if _port_open(settings.broker_host, settings.broker_port) and asyncio.run(
            _metadata_ok(bootstrap)
        ):
            if not quiet:
                print(f"newsmon: broker started in {time.monotonic() - t0:.1f}s", flush=True)
            return bootstrap
        time.sleep(0.3)
    procs.terminate(proc.pid, KAFKA_MAIN, timeout=5)
    raise BrokerError(
        f"the broker did not answer within {timeout:.0f}s; last lines of {paths.logfile}:\n"
        + procs.tail(paths.logfile, 30)
    )


def stop(settings: Settings, timeout: float = 60.0, kill: bool = False) -> bool:
    """Stop the broker (SIGTERM, a clean shutdown; SIGKILL with `kill`). True if it ran."""
    import signal

    paths = broker_paths(settings)
    pid = status(settings)
    if pid is None:
        return False
    sig = signal.SIGKILL if kill else signal.SIGTERM
    procs.terminate(pid, KAFKA_MAIN, timeout=timeout, sig=sig)
    paths.pidfile.unlink(missing_ok=True)
    return True
