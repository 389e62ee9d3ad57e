"""Deploying Mimik: the files an operator deploys with (compose.yaml, deploy/) agree with the app,
and the stack works spread over hosts.

The multi-host test builds four hosts out of Linux network namespaces on a private /24 behind one
bridge, with this machine (the operator's) as a fifth address on it: PostgreSQL and Redis on the
data host, the web server (gunicorn) and the websocket server (uvicorn) on the web host, an
inference worker on each of two worker hosts. Each component starts through deploy/entrypoint.sh
and knows the others only by the URLs in its environment. A campaign's testers upload through the
web host's address, and the books must balance: every accepted snapshot stored once with exactly
one outcome, and both workers worked; the dashboard's socket is answered by the websocket server.
No host has a route beyond the subnet, and every TCP connection seen during the run goes to a
configured address. Needs root (`ip netns`) and PostgreSQL's server binaries; about 20 s.
"""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from psycopg import sql

from conftest import ROOT
from inference.models import Prediction
from sessions.models import Frame
from tests.load.servers import die_with_parent, stop
from tests.support.camera import jpeg_bytes

DEPLOY = ROOT / "deploy"
ENTRYPOINT = DEPLOY / "entrypoint.sh"
ROLES = {"web", "websocket", "worker-inference", "worker-default", "beat", "worker-second-opinion", "migrate"}
# Variables the deployment sets that config/settings.py does not read, and who reads them.
READ_ELSEWHERE = {"FORWARDED_ALLOW_IPS": "gunicorn and uvicorn", "POSTGRES_PASSWORD": "the postgres image"}


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def app_services() -> dict[str, dict]:
    return {name: service for name, service in compose()["services"].items() if service.get("image") == "mimik-app"}


def entrypoint_roles() -> set[str]:
    script = ENTRYPOINT.read_text()
    return set(re.findall(r"^ {4}([a-z-]+)\)", script[script.index('case "$role" in') :], re.MULTILINE))


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_compose_runs_every_role_through_the_entrypoint_and_publishes_only_the_proxy():
    services = compose()["services"]
    apps = app_services()
    commands = {name: service["command"][0] for name, service in apps.items()}

    assert ENTRYPOINT.stat().st_mode & 0o111, "deploy/entrypoint.sh must be executable"
    assert set(commands.values()) == ROLES
    assert set(commands.values()) <= entrypoint_roles()
    assert all(service["env_file"] == "deploy/mimik.env" for service in apps.values())
    assert apps["worker-second-opinion"]["profiles"] == ["second-opinion"]
    # `--scale worker-inference=N` needs a service without a fixed name or published port.
    assert not {"container_name", "ports"} & set(apps["worker-inference"])
    assert [name for name, service in services.items() if "ports" in service] == ["proxy"]
    assert {"80:80", "443:443"} <= set(services["proxy"]["ports"])
    for store, data_dir in (("db", "/var/lib/postgresql/data"), ("redis", "/data")):
        volume = next(v for v in services[store]["volumes"] if v.endswith(":" + data_dir))
        assert volume.split(":")[0] in compose()["volumes"], f"{store} keeps its data in a named volume"
        assert services[store]["healthcheck"]["test"]
    assert "--appendonly yes" in " ".join(services["redis"]["command"])
    # The proxy's default upstreams are the compose services that serve them.
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert re.search(r"handle /ws/\* \{\s*reverse_proxy \{\$WEBSOCKET_UPSTREAMS:websocket:8000\}", caddyfile)
    assert "reverse_proxy {$WEB_UPSTREAMS:web:8000}" in caddyfile
    assert apps["websocket"]["environment"]["PORT"] == apps["web"]["environment"]["PORT"] == "8000"


def test_every_variable_the_deployment_sets_is_read_by_the_app_or_named_reader():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    read_by_settings = set(re.findall(r'env_\w+\(\s*"([A-Z0-9_]+)"', settings_source))
    read_by_entrypoint = set(re.findall(r"\$\{([A-Z0-9_]+)", ENTRYPOINT.read_text()))
    example = env_file(DEPLOY / "mimik.env.example")
    variables = set(example) | {key for service in app_services().values() for key in service.get("environment", {})}

    unread = variables - read_by_settings - read_by_entrypoint - set(READ_ELSEWHERE)
    assert not unread, f"set by the deployment but read by nobody: {sorted(unread)}"
    # No shared secret ships in the example: the app refuses to start until the operator sets one.
    assert example["SECRET_KEY"] == "" and example["POSTGRES_PASSWORD"] == ""
    assert example["DEBUG"] == "0" and example["BEHIND_HTTPS_PROXY"] == "1"


def test_check_deploy_is_clean_with_the_example_environment():
    """tests/test_security.py checks the production settings by name; this checks the file an
    operator copies, with the one value they must add."""
    env = {key: value for key, value in os.environ.items() if key not in {"DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(env_file(DEPLOY / "mimik.env.example"))
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("role", sorted(ROLES - {"migrate"}))  # migrate runs in the multi-host test
def test_each_role_runs_a_command_that_accepts_the_options_it_is_given(role):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(
        [str(ENTRYPOINT), role, "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr  # an unknown option fails before --help
    assert "usage:" in result.stdout.lower()


def compose_command() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.mark.skipif(compose_command() is None, reason="neither `docker compose` nor `docker-compose` is installed")
def test_docker_compose_accepts_the_file(tmp_path):
    shutil.copy(ROOT / "compose.yaml", tmp_path)
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    shutil.copy(DEPLOY / "mimik.env.example", tmp_path / "deploy" / "mimik.env")
    result = subprocess.run(
        [*compose_command(), "--profile", "second-opinion", "config", "--services"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert ROLES - {"migrate"} < set(result.stdout.split())


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed (apt-get install caddy)")
def test_the_proxy_sends_websockets_static_files_and_pages_where_they_belong():
    env = {**os.environ, "SITE_ADDRESS": "mimik.example.com", "WEB_UPSTREAMS": "10.0.0.11:8000 10.0.0.12:8000"}
    result = subprocess.run(
        ["caddy", "adapt", "--config", str(DEPLOY / "Caddyfile"), "--validate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    server = json.loads(result.stdout)["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [":443"]  # and plain HTTP only redirects there
    site = server["routes"][0]
    assert site["match"] == [{"host": ["mimik.example.com"]}]

    def upstreams(route: dict) -> list[str]:
        found = []
        for handler in route["handle"]:
            found += [upstream["dial"] for upstream in handler.get("upstreams", [])]
            for inner in handler.get("routes", []):
                found += upstreams(inner)
        return found

    routed = {
        tuple(route["match"][0]["path"]) if "match" in route else "everything else": route
        for route in site["handle"][0]["routes"]
    }
    assert upstreams(routed[("/ws/*",)]) == ["websocket:8000"]
    assert upstreams(routed["everything else"]) == ["10.0.0.11:8000", "10.0.0.12:8000"]
    static = json.dumps(routed[("/static/*",)])
    assert upstreams(routed[("/static/*",)]) == []
    assert '"file_server"' in static and '"/srv/static"' in static and '"strip_path_prefix": "/static"' in static


# --- The stack over four hosts -------------------------------------------------------------------

SYSTEM_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
HOSTS = {"data": 2, "web": 3, "worker1": 4, "worker2": 5}  # host part of each address; .1 is this machine
WEBSOCKET_PORT = 8001  # beside the web server's 8000 on the web host, as the proxy would reach it
TESTERS, SNAPSHOTS_PER_TESTER, SNAPSHOTS_PER_VARIANT = 3, 20, 10  # 60 snapshots
STUDY = """
import json
from campaigns.models import Invitation
from campaigns.tokens import hash_token
from sessions import services
from tests.support.study import make_study

study = make_study(invitations={testers}, organisation_name="Multi-host")
testers = []
for token in study.tokens:
    tester = services.tester_create_for_invitation(invitation=Invitation.objects.get(token_hash=hash_token(token)))
    tester = services.tester_consent(tester=tester)
    services.tester_camera_set(tester=tester, camera="granted")
    testers.append({{"id": str(tester.pk), "token": token, "variants": list(map(str, tester.variant_order))}})
print(json.dumps({{"campaign": str(study.campaign.pk), "testers": testers}}))
"""


def run(*command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=kwargs.pop("timeout", 30), **kwargs
    )


def remove_leftovers() -> None:
    """Namespaces and links of an earlier run that was killed before its cleanup (its pid is gone)."""

    def gone(pid: str) -> bool:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        return False

    for name, pid in re.findall(r"^(mimik-mh(\d+)-\w+)", run("ip", "netns", "list").stdout, re.MULTILINE):
        if gone(pid):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
    for name, pid in re.findall(r"^\d+: (mimikc(\d+))[@:]", run("ip", "-o", "link", "show").stdout, re.MULTILINE):
        if gone(pid):
            subprocess.run(["ip", "link", "del", name], capture_output=True)


class Lan:
    """The hosts: one network namespace each, a veth into a bridge in a namespace of its own, no
    IPv6, and no route but the subnet's. This machine joins with a veth of its own at .1."""

    def __init__(self) -> None:
        self.tag = f"mimik-mh{os.getpid()}"
        self.client_link = f"mimikc{os.getpid()}"
        taken = run("ip", "-4", "-o", "addr", "show").stdout + run("ip", "-4", "route", "show").stdout
        third = next(n for n in ((os.getpid() + i) % 250 + 1 for i in range(250)) if f"10.231.{n}." not in taken)
        self.prefix = f"10.231.{third}"
        self.subnet = f"{self.prefix}.0/24"
        self.made: list[str] = []

    def ip(self, host: str) -> str:
        return f"{self.prefix}.{HOSTS[host]}"

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def up(self) -> None:
        lan = self.ns("lan")
        for host in ["lan", *HOSTS]:
            run("ip", "netns", "add", self.ns(host))
            self.made.append(self.ns(host))
            run("ip", "netns", "exec", self.ns(host), "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            run("ip", "netns", "exec", self.ns(host), "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
            run("ip", "-n", self.ns(host), "link", "set", "lo", "up")
        run("ip", "-n", lan, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", lan, "link", "set", "br0", "up")
        for host in HOSTS:
            run("ip", "link", "add", "eth0", "netns", self.ns(host), "type", "veth", "peer", "name", host, "netns", lan)
            run("ip", "-n", lan, "link", "set", host, "master", "br0", "up")
            run("ip", "-n", self.ns(host), "addr", "add", f"{self.ip(host)}/24", "dev", "eth0")
            run("ip", "-n", self.ns(host), "link", "set", "eth0", "up")
        run("ip", "link", "add", self.client_link, "type", "veth", "peer", "name", "client", "netns", lan)
        run("ip", "-n", lan, "link", "set", "client", "master", "br0", "up")
        run("sysctl", "-qw", f"net.ipv6.conf.{self.client_link}.disable_ipv6=1")
        run("ip", "addr", "add", f"{self.prefix}.1/24", "dev", self.client_link)
        run("ip", "link", "set", self.client_link, "up")

    def down(self) -> None:
        subprocess.run(["ip", "link", "del", self.client_link], capture_output=True)
        for name in reversed(self.made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)

    def routes(self, host: str) -> list[str]:
        ipv4 = run("ip", "-n", self.ns(host), "-4", "route", "show").stdout.splitlines()
        ipv6 = run("ip", "-n", self.ns(host), "-6", "route", "show").stdout.splitlines()
        return [line.split()[0] for line in ipv4 + ipv6]

    def connections(self, host: str) -> set[tuple[str, str]]:
        """(local, peer) of every TCP connection in the host that is not listening or closed."""
        output = run("ip", "netns", "exec", self.ns(host), "ss", "-Htn", "state", "connected").stdout
        return {tuple(line.split()[-2:]) for line in output.splitlines() if line.strip()}


class Stack:
    """The processes on the hosts, each in its own process group and killed with this test run."""

    def __init__(self, lan: Lan, workdir: Path) -> None:
        self.lan, self.workdir = lan, workdir
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs: list = []
        self.database_url = f"postgres://postgres@{lan.ip('data')}:5432/mimik"
        self.redis_url = f"redis://{lan.ip('data')}:6379/0"
        self.web_url = f"http://{lan.ip('web')}:8000"
        self.secret_key = secrets.token_urlsafe(50)

    def env(self, **extra: str) -> dict[str, str]:
        """All a component knows: the other hosts' URLs, and nothing from this test's environment."""
        return {
            **SYSTEM_ENV,
            "PATH": f"{Path(sys.executable).parent}:{SYSTEM_ENV['PATH']}",
            "HOME": str(self.workdir),
            "PYTHONUNBUFFERED": "1",
            "DEBUG": "0",
            "SECRET_KEY": self.secret_key,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "ALLOWED_HOSTS": self.lan.ip("web"),
            "SITE_URL": self.web_url,
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "MEDIA_ROOT": str(self.workdir / "media"),
            **extra,
        }

    def spawn(self, name: str, host: str, command: list[str], env: dict[str, str]) -> None:
        self.logs.append((self.workdir / f"{name}.log").open("w"))
        self.processes[name] = subprocess.Popen(
            ["ip", "netns", "exec", self.lan.ns(host), *command],
            cwd=ROOT,
            env=env,
            stdout=self.logs[-1],
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    def in_host(self, host: str, *command: str, env: dict[str, str], timeout: float) -> str:
        result = subprocess.run(
            ["ip", "netns", "exec", self.lan.ns(host), *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"{command} in {host}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def wait(self, name: str, ready, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise AssertionError(f"{name} exited:\n{self.log(name)[-3000:]}")
            if ready():
                return
            time.sleep(0.2)
        raise AssertionError(f"{name}: no {what} within {timeout:.0f} s:\n{self.log(name)[-3000:]}")

    def stop_all(self) -> None:
        for process in reversed(self.processes.values()):
            stop(process)
        for log in self.logs:
            log.close()

    def start_data_host(self, pg_bin: Path) -> None:
        """A throwaway PostgreSQL cluster (as the postgres user: initdb refuses root) and a Redis,
        listening on the data host's address only, without Unix sockets."""
        data = self.lan.ip("data")
        pgdata = self.workdir / "pg"
        pgdata.mkdir()
        shutil.chown(pgdata, "postgres", "postgres")
        as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
        run(
            *as_postgres, str(pg_bin / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust", "-N", timeout=120
        )
        with (pgdata / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {self.lan.subnet} trust\n")
        settings = [f"listen_addresses={data}", "unix_socket_directories=", "fsync=off", "full_page_writes=off"]
        postgres = [*as_postgres, "--pdeathsig", "SIGTERM", "--", str(pg_bin / "postgres"), "-D", str(pgdata)]
        self.spawn("postgres", "data", [*postgres, *(arg for s in settings for arg in ("-c", s))], SYSTEM_ENV)
        (self.workdir / "redis").mkdir()
        redis_server = [
            "redis-server",
            "--bind",
            data,
            "--port",
            "6379",
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "yes",
        ]
        self.spawn("redis", "data", [*redis_server, "--dir", str(self.workdir / "redis")], SYSTEM_ENV)
        self.wait("postgres", lambda: reachable(data, 5432), "PostgreSQL")
        self.wait("redis", lambda: reachable(data, 6379), "Redis")
        with psycopg.connect(self.database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
            connection.execute("CREATE DATABASE mimik")


def reachable(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


class ConnectionLog(threading.Thread):
    """Samples every host's TCP connections until stopped."""

    def __init__(self, lan: Lan) -> None:
        super().__init__(daemon=True)
        self.lan = lan
        self.seen: dict[str, set[tuple[str, str]]] = {host: set() for host in HOSTS}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for host in HOSTS:
                self.seen[host] |= self.lan.connections(host)
            self.stopping.wait(0.3)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
        for host in HOSTS:  # one last look
            self.seen[host] |= self.lan.connections(host)


def upload_all(stack: Stack, testers: list[dict]) -> set[tuple[str, int]]:
    """Each tester's page: a JPEG body per snapshot, sent again after Retry-After on 429/503."""
    jpeg = jpeg_bytes()

    def one_tester(tester: dict) -> set[tuple[str, int]]:
        accepted = set()
        with httpx.Client(base_url=stack.web_url, timeout=20) as client:
            for sequence in range(SNAPSHOTS_PER_TESTER):
                variant = tester["variants"][(sequence // SNAPSHOTS_PER_VARIANT) % len(tester["variants"])]
                headers = {
                    "Content-Type": "image/jpeg",
                    "X-Snapshot-Variant": variant,
                    "X-Snapshot-Sequence": str(sequence),
                    "X-Snapshot-Media-Time-Ms": str(sequence % SNAPSHOTS_PER_VARIANT * 500),
                }
                for _attempt in range(10):
                    response = client.post(f"/api/t/{tester['token']}/frames/", content=jpeg, headers=headers)
                    if response.status_code not in (429, 503):
                        break
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                assert response.status_code == 204, response.text
                accepted.add((tester["id"], sequence))
        return accepted

    with ThreadPoolExecutor(len(testers)) as pool:
        return set().union(*pool.map(one_tester, testers))


def books(stack: Stack, campaign_id: str, accepted: set[tuple[str, int]]) -> dict[str, int]:
    frames, predictions = (sql.Identifier(model._meta.db_table) for model in (Frame, Prediction))
    with psycopg.connect(stack.database_url) as connection:
        rows = connection.execute(
            sql.SQL("SELECT tester_id, sequence, outcome FROM {} WHERE campaign_id = %s").format(frames), [campaign_id]
        ).fetchall()
        (predicted_twice,) = connection.execute(
            sql.SQL(
                "SELECT count(*) FROM (SELECT 1 FROM {} WHERE campaign_id = %s "
                "GROUP BY frame_id, model_version_id HAVING count(*) > 1) AS twice"
            ).format(predictions),
            [campaign_id],
        ).fetchone()
    stored = Counter((str(tester), sequence) for tester, sequence, _outcome in rows)
    done = {(str(tester), sequence) for tester, sequence, outcome in rows if outcome != Frame.Outcome.PENDING}
    return {
        "accepted": len(accepted),
        "stored": len(rows),
        "with an outcome": len(done),
        "predicted": sum(outcome == Frame.Outcome.PREDICTION for *_key, outcome in rows),
        "stored without a 204": len(set(stored) - accepted),
        "lost": len(accepted - done),
        "duplicated": sum(n - 1 for n in stored.values()) + predicted_twice,
    }


def batches_per_worker(redis_url: str) -> dict[str, int]:
    """How many batches each worker handed to its pool (Celery's own count, asked over the broker)."""
    from celery import Celery

    stats = Celery(broker=redis_url).control.inspect(timeout=3).stats() or {}
    return {name: worker["pool"]["writes"]["total"] for name, worker in stats.items()}


def anonymous_dashboard_socket(web: str, campaign_id: str) -> int:
    """The close code the websocket server sends a dashboard socket opened without a session."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = f"ws://{web}:{WEBSOCKET_PORT}/ws/campaigns/{campaign_id}/"
    with connect(url, origin=f"http://{web}:{WEBSOCKET_PORT}", open_timeout=10) as socket:
        try:
            socket.recv(timeout=10)
        except ConnectionClosed as closed:
            return closed.rcvd.code
    raise AssertionError("the socket stayed open without a session")


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def test_the_stack_over_four_hosts_balances_its_books_and_talks_only_to_configured_addresses():
    if os.geteuid() != 0:
        pytest.skip("needs root: the hosts are network namespaces (ip netns)")
    missing = [tool for tool in ("ip", "ss", "setpriv", "redis-server") if shutil.which(tool) is None]
    if missing or postgres_bin() is None:
        pytest.skip(f"needs {', '.join(missing) or 'PostgreSQL server binaries (/usr/lib/postgresql/*/bin)'}")
    remove_leftovers()
    lan = Lan()
    workdir = Path(tempfile.mkdtemp(prefix="mimik-multi-host-"))
    workdir.chmod(0o755)  # PostgreSQL runs as its own user below it
    stack = Stack(lan, workdir)
    watcher = ConnectionLog(lan)
    try:
        try:
            lan.up()
        except subprocess.CalledProcessError as error:
            pytest.skip(f"cannot create network namespaces here: {error.stderr.strip()}")
        stack.start_data_host(postgres_bin())
        watcher.start()
        stack.in_host("web", str(ENTRYPOINT), "migrate", "-v", "0", env=stack.env(), timeout=300)
        stack.spawn("web", "web", [str(ENTRYPOINT), "web"], stack.env(HOST=lan.ip("web"), WEB_CONCURRENCY="1"))
        websocket_env = stack.env(HOST=lan.ip("web"), PORT=str(WEBSOCKET_PORT))
        stack.spawn("websocket", "web", [str(ENTRYPOINT), "websocket"], websocket_env)
        for number in (1, 2):
            worker_env = stack.env(WORKER_CONCURRENCY="1")
            command = [str(ENTRYPOINT), "worker-inference", "-n", f"inference{number}@%h"]
            stack.spawn(f"worker{number}", f"worker{number}", command, worker_env)
        setup = stack.in_host(
            "web", str(ENTRYPOINT), "manage", "shell", "-c", STUDY.format(testers=TESTERS), env=stack.env(), timeout=120
        )
        study = json.loads(setup.strip().splitlines()[-1])
        stack.wait("web", lambda: reachable(lan.ip("web"), 8000), "HTTP server")
        stack.wait("websocket", lambda: reachable(lan.ip("web"), WEBSOCKET_PORT), "websocket server")
        for number in (1, 2):
            stack.wait(f"worker{number}", lambda n=number: " ready." in stack.log(f"worker{n}"), "ready worker")

        accepted = upload_all(stack, study["testers"])
        deadline = time.monotonic() + 60
        while books(stack, study["campaign"], accepted)["lost"] and time.monotonic() < deadline:
            time.sleep(0.5)
        health = subprocess.run(
            ["ip", "netns", "exec", lan.ns("web"), str(ENTRYPOINT), "health"],
            env=stack.env(HOST=lan.ip("web")),
            capture_output=True,
            text=True,
            timeout=60,
        )
        work = batches_per_worker(stack.redis_url)
        socket_closed_with = anonymous_dashboard_socket(lan.ip("web"), study["campaign"])
        watcher.stop()

        result = books(stack, study["campaign"], accepted)
        assert result["predicted"] > 0, result  # the face went through the model, not only the gates
        del result["predicted"]
        snapshots = TESTERS * SNAPSHOTS_PER_TESTER
        assert result == {
            "accepted": snapshots,
            "stored": snapshots,
            "with an outcome": snapshots,
            "stored without a 204": 0,
            "lost": 0,
            "duplicated": 0,
        }, f"{result}\n{stack.log('worker1')[-2000:]}\n{stack.log('worker2')[-2000:]}"
        assert sorted(name.split("@")[0] for name in work) == ["inference1", "inference2"], work
        assert all(batches > 0 for batches in work.values()), f"each worker analysed frames: {work}"
        assert health.returncode == 0, health.stderr
        assert socket_closed_with == 4403  # Channels' consumer answered: not logged in

        # Nothing beyond the subnet is reachable from any host ...
        assert {host: lan.routes(host) for host in HOSTS} == {host: [lan.subnet] for host in HOSTS}
        # ... and every connection went to a configured address: the database and Redis on the data
        # host, the web and websocket servers from this machine (the testers, the dashboard) or from
        # their own host (`health`).
        data, web, client = lan.ip("data"), lan.ip("web"), f"{lan.prefix}.1"
        services = {f"{data}:5432", f"{data}:6379"}

        def address(endpoint: str) -> str:
            return endpoint.rsplit(":", 1)[0]

        def allowed(host: str, local: str, peer: str) -> bool:
            if host == "data":
                return local in services and address(peer) in {client, web, lan.ip("worker1"), lan.ip("worker2")}
            if host == "web":
                serving = local in {f"{web}:8000", f"{web}:{WEBSOCKET_PORT}"} and address(peer) in {client, web}
                return peer in services or peer == f"{web}:8000" or serving
            return peer in services

        unexpected = {host: {pair for pair in watcher.seen[host] if not allowed(host, *pair)} for host in HOSTS}
        assert unexpected == {host: set() for host in HOSTS}
        for host in ("web", "worker1", "worker2"):
            assert {peer for _local, peer in watcher.seen[host]} >= services, f"{host} used the database and Redis"
    finally:
        watcher.stopping.set()
        if watcher.is_alive():
            watcher.join(timeout=10)
        stack.stop_all()
        lan.down()
        shutil.rmtree(workdir, ignore_errors=True)
