"""Consistency checks for the deployment files, and the read-only BI role on a real PostgreSQL.

dagster.yaml, workspace.yaml, docker-compose.yml, Dockerfile, deploy/postgres-init/ and
docs/operations.md name the same things (services, ports, variables, databases, roles) in different
places; most tests here make sure they agree, reading the files only: no Docker engine (there is
none on the development machines or CI), no database. A few import the finops CLI parser, the
settings module or the table contract, and the schema checks import Dagster itself.

The last section needs the test PostgreSQL (FINOPS_TEST_POSTGRES_URL; skipped without it): it runs
deploy/postgres-init/01-warehouse.sql with psql, builds the warehouse with ensure_tables, connects
as finops_reader to prove what a BI tool can and cannot do, and loads a Dagster instance from
dagster.yaml.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

DAGSTER_SERVICES = ("user_code", "webserver", "daemon")
FINOPS_SERVICES = (*DAGSTER_SERVICES, "api")  # the services running the finops-pipeline image
READER_ROLE = "finops_reader"
INIT_SQL = "deploy/postgres-init/01-warehouse.sql"
STORAGE_VARS = {"DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"}
DAGSTER_HOME = "/opt/dagster/dagster_home"


# --------------------------------------------------------------------------------------------
# Helpers


def _load_yaml(name: str):
    # safe_load resolves anchors, aliases and `<<` merge keys, as docker compose does.
    return yaml.safe_load((ROOT / name).read_text())


_COMPOSE_VARIABLE = re.compile(
    r"\$\$"  # escaped dollar
    r"|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-)(?P<default>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Docker compose variable interpolation (``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-d}``, ``${VAR-d}``)."""
    env = env or {}

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, default = match.group("op"), match.group("default")
        if op == ":-" and not env.get(name):
            return default
        if op == "-" and name not in env:
            return default
        return env.get(name, "")

    return _COMPOSE_VARIABLE.sub(substitute, str(value))


def service_env(service: dict, env: dict[str, str] | None = None) -> dict[str, str]:
    """A service's ``environment`` (mapping or ``KEY=value`` list form), interpolated."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: interpolate("" if value is None else value, env) for key, value in raw.items()}


def command_args(service: dict) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def option(args: list[str], *names: str) -> str | None:
    """The value following the first of ``names`` in ``args`` (also ``--name=value``)."""
    for i, arg in enumerate(args):
        if arg in names and i + 1 < len(args):
            return args[i + 1]
        for name in names:
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def volume_mounts(service: dict, env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(source, target) for each volume of a service, short or long syntax, interpolated."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            mounts.append((interpolate(volume.get("source", ""), env), str(volume["target"])))
        else:
            parts = interpolate(volume, env).split(":")
            mounts.append((parts[0], parts[1]) if len(parts) > 1 else ("", parts[0]))
    return mounts


def published_ports(service: dict, env: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(host ip, host port, container port) for each published port, short or long syntax."""
    ports = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            ports.append((str(port.get("host_ip", "")), str(port.get("published", "")), str(port["target"])))
            continue
        parts = interpolate(str(port), env).split("/")[0].split(":")
        ip, host = (parts[0], parts[1]) if len(parts) == 3 else ("", parts[0] if len(parts) == 2 else "")
        ports.append((ip, host, parts[-1]))
    return ports


def init_sql() -> str:
    return "\n".join(path.read_text() for path in sorted((ROOT / "deploy" / "postgres-init").glob("*.sql")))


def created_databases(sql: str) -> set[str]:
    """Databases the init SQL creates: `CREATE DATABASE x;` or psql's `SELECT 'CREATE DATABASE x' ... \\gexec`."""
    return set(re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", sql, re.IGNORECASE))


def env_references(node) -> set[str]:
    """Names of all ``{env: NAME}`` values in a Dagster config document."""
    if isinstance(node, dict):
        if set(node) == {"env"} and isinstance(node["env"], str):
            return {node["env"]}
        return set().union(*(env_references(value) for value in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(env_references(value) for value in node)) if node else set()
    return set()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), " ".join(rest.split())))
    return instructions


def _index(instructions, predicate, what: str) -> int:
    for i, instruction in enumerate(instructions):
        if predicate(*instruction):
            return i
    pytest.fail(f"Dockerfile has no {what}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return _load_yaml("docker-compose.yml")


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def instance_config() -> dict:
    return _load_yaml("dagster.yaml")


@pytest.fixture(scope="module")
def workspace() -> dict:
    return _load_yaml("workspace.yaml")


# --------------------------------------------------------------------------------------------
# docker-compose.yml


def test_compose_defines_the_services(services):
    assert set(services) == {"postgres", *FINOPS_SERVICES, "metabase"}


def test_postgres_service(compose, services):
    postgres = services["postgres"]
    assert str(postgres["image"]).startswith("postgres:16")
    raw_env = postgres["environment"]
    for name in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        # Overridable from the shell or .env, with a default so `docker compose up` just works.
        assert re.fullmatch(r"\$\{" + name + r":-[^}]+\}", str(raw_env[name])), raw_env[name]
    assert "pg_isready" in " ".join(map(str, postgres["healthcheck"]["test"]))
    data_volumes = [source for source, target in volume_mounts(postgres) if target == "/var/lib/postgresql/data"]
    assert data_volumes and data_volumes[0] in (compose.get("volumes") or {}), "postgres data needs a named volume"
    # Reachable from this host only (psql, pg_dump, desktop BI tools), never from the network.
    assert published_ports(postgres) == [("127.0.0.1", "5432", "5432")]


@pytest.mark.parametrize("name", [*FINOPS_SERVICES, "metabase"])
def test_services_wait_for_healthy_postgres(services, name):
    depends_on = services[name].get("depends_on")
    assert isinstance(depends_on, dict), f"{name}: depends_on must use the long form with conditions"
    assert depends_on["postgres"]["condition"] == "service_healthy"


def test_dagster_services_share_one_environment(services):
    environments = [service_env(services[name]) for name in DAGSTER_SERVICES]
    assert all(env == environments[0] for env in environments)


def test_webserver_serves_port_3000(services):
    webserver = services["webserver"]
    args = command_args(webserver)
    assert args[0] == "dagster-webserver"
    assert option(args, "-h", "--host") == "0.0.0.0"
    assert option(args, "-p", "--port") == "3000"
    published = []
    for port in webserver.get("ports") or []:
        if isinstance(port, dict):
            published.append(str(port["target"]))
        else:
            published.append(str(port).rsplit(":", 1)[-1].split("/")[0])
    assert "3000" in published


def test_daemon_runs_with_the_workspace(services):
    args = command_args(services["daemon"])
    assert args[:2] == ["dagster-daemon", "run"]
    assert option(args, "-w", "--workspace") == "workspace.yaml"
    assert option(command_args(services["webserver"]), "-w", "--workspace") == "workspace.yaml"


@pytest.mark.parametrize("name", DAGSTER_SERVICES)
def test_sample_data_is_mounted_at_the_data_dir(services, name):
    service = services[name]
    data_dir = service_env(service)["FINOPS_DATA_DIR"]
    assert data_dir == "/data"
    sources = [source for source, target in volume_mounts(service) if target.rstrip("/") == data_dir]
    assert sources and Path(sources[0]) == Path("./data/sample"), f"{name}: ./data/sample not mounted at {data_dir}"
    # Any other directory with HOST_DATA_DIR.
    assert ("/srv/finops", data_dir) in volume_mounts(service, {"HOST_DATA_DIR": "/srv/finops"})


def test_dagster_services_share_the_compute_log_storage(compose, services):
    """Steps run in user_code; the webserver shows their stdout/stderr from $DAGSTER_HOME/storage,
    where Dagster's default LocalComputeLogManager writes them: one named volume for all three."""
    mounted = {
        name: [source for source, target in volume_mounts(services[name]) if target == f"{DAGSTER_HOME}/storage"]
        for name in DAGSTER_SERVICES
    }
    sources = {tuple(value) for value in mounted.values()}
    assert len(sources) == 1 and len(next(iter(sources))) == 1, mounted
    assert next(iter(sources))[0] in compose["volumes"]


# --------------------------------------------------------------------------------------------
# dagster.yaml <-> docker-compose.yml


def test_dagster_yaml_takes_its_storage_from_the_environment(instance_config):
    postgres_db = instance_config["storage"]["postgres"]["postgres_db"]
    assert env_references(postgres_db) == STORAGE_VARS
    for field in ("hostname", "port", "username", "password", "db_name"):
        assert set(postgres_db[field]) == {"env"}, f"storage.postgres.postgres_db.{field} must come from env"


def test_dagster_yaml_instance_settings(instance_config):
    coordinator = instance_config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert coordinator["config"]["max_concurrent_runs"] == 4
    assert {"key": "dagster/backfill", "limit": 2} in coordinator["config"]["tag_concurrency_limits"]
    # A user_code restart must not fail the runs dequeued meanwhile.
    assert coordinator["config"]["max_user_code_failure_retries"] > 0
    monitoring = instance_config["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["start_timeout_seconds"] > 0 and monitoring["cancel_timeout_seconds"] > 0
    assert monitoring["max_runtime_seconds"] >= 3600
    # The run launcher is the default one (runs are subprocesses of the user_code server), which
    # cannot resume a run: Dagster refuses to load the instance with max_resume_run_attempts > 0.
    assert "run_launcher" not in instance_config
    assert "compute_logs" not in instance_config  # the default, under $DAGSTER_HOME/storage (shared volume)
    assert monitoring.get("max_resume_run_attempts", 0) == 0
    assert "finops_pipeline" in instance_config["python_logs"]["managed_python_loggers"]
    assert instance_config["telemetry"]["enabled"] is False
    for instigator in ("schedule", "sensor"):
        assert set(instance_config["retention"][instigator]["purge_after_days"]) >= {"skipped", "success", "failure"}


def _locked_versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


# SQLAlchemy driver name -> distributions that provide it
_DRIVER_PACKAGES = {"psycopg2": {"psycopg2", "psycopg2-binary"}, "psycopg": {"psycopg", "psycopg-binary"}}


def _driver_of(scheme: str, sqlalchemy_version: str) -> str:
    if "+" in scheme:
        return scheme.split("+", 1)[1]
    # A bare postgresql:// means psycopg2 up to SQLAlchemy 2.0 and psycopg (3) from 2.1 on.
    major, minor = (int(part) for part in sqlalchemy_version.split(".")[:2])
    return "psycopg" if (major, minor) >= (2, 1) else "psycopg2"


def test_postgres_drivers_are_in_the_lock_file(instance_config, services):
    """dagster-postgres and the warehouse engine must use a driver the image actually installs."""
    pins = _locked_versions()
    schemes = {
        "dagster.yaml storage": instance_config["storage"]["postgres"]["postgres_db"].get("scheme", "postgresql"),
        "FINOPS_WAREHOUSE_URL": urlsplit(service_env(services["user_code"])["FINOPS_WAREHOUSE_URL"]).scheme,
    }
    for where, scheme in schemes.items():
        driver = _driver_of(scheme, pins["sqlalchemy"])
        assert _DRIVER_PACKAGES.get(driver, {driver}) & set(pins), (
            f"{where} uses {scheme!r}, i.e. the {driver} driver, which requirements.lock does not install"
        )


@pytest.mark.parametrize("name", DAGSTER_SERVICES)
def test_every_env_var_of_dagster_yaml_reaches_each_dagster_service(instance_config, services, name):
    env = service_env(services[name])
    referenced = env_references(instance_config)
    assert referenced >= STORAGE_VARS
    missing = sorted(var for var in referenced if not env.get(var))
    assert not missing, f"{name} does not set {missing}, which dagster.yaml reads"


@pytest.mark.parametrize("overrides", [{}, {"POSTGRES_USER": "alice", "POSTGRES_PASSWORD": "s3cret", "POSTGRES_DB": "meta"}])
def test_dagster_storage_points_at_the_postgres_service(services, overrides):
    """Whatever POSTGRES_* the operator chooses, Dagster connects with the same credentials."""
    postgres_env = service_env(services["postgres"], overrides)
    for name in DAGSTER_SERVICES:
        env = service_env(services[name], overrides)
        assert env["DAGSTER_PG_HOST"] == "postgres"
        assert env["DAGSTER_PG_PORT"] == "5432"
        assert env["DAGSTER_PG_USER"] == postgres_env["POSTGRES_USER"]
        assert env["DAGSTER_PG_PASSWORD"] == postgres_env["POSTGRES_PASSWORD"]
        assert env["DAGSTER_PG_DB"] == postgres_env["POSTGRES_DB"]


# --------------------------------------------------------------------------------------------
# workspace.yaml <-> user_code


def test_workspace_points_at_the_user_code_grpc_server(workspace, services):
    locations = workspace["load_from"]
    assert len(locations) == 1
    grpc = locations[0]["grpc_server"]
    assert grpc["host"] == "user_code" and grpc["host"] in services
    assert grpc["location_name"] == "finops_pipeline"

    args = command_args(services["user_code"])
    assert args[:3] == ["dagster", "api", "grpc"]
    assert option(args, "-h", "--host") == "0.0.0.0"
    assert option(args, "-p", "--port") == str(grpc["port"]) == "4000"
    assert option(args, "-m", "--module-name") == "finops_pipeline.definitions"
    assert option(args, "--location-name") == grpc["location_name"]  # the name [tool.dg.project] gives it too
    # The healthcheck the webserver and daemon wait for asks the same port.
    health = [str(arg) for arg in services["user_code"]["healthcheck"]["test"]]
    assert "grpc-health-check" in health and option(health, "-p", "--port") == str(grpc["port"])


def test_user_code_serves_the_module_named_in_pyproject(services):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    module_name = pyproject["tool"]["dagster"]["module_name"]
    assert option(command_args(services["user_code"]), "-m", "--module-name") == module_name


# --------------------------------------------------------------------------------------------
# FINOPS_WAREHOUSE_URL <-> deploy/postgres-init


@pytest.mark.parametrize("overrides", [{}, {"POSTGRES_USER": "alice", "POSTGRES_PASSWORD": "s3cret"}])
def test_init_sql_creates_the_warehouse_database(services, overrides):
    postgres = services["postgres"]
    init_dirs = [source for source, target in volume_mounts(postgres) if target == "/docker-entrypoint-initdb.d"]
    assert init_dirs, "postgres must mount the init scripts at /docker-entrypoint-initdb.d"
    init_dir = ROOT / init_dirs[0]
    assert init_dir.resolve() == (ROOT / "deploy" / "postgres-init").resolve()
    sql = init_sql()

    postgres_env = service_env(postgres, overrides)
    for name in FINOPS_SERVICES:
        url = urlsplit(service_env(services[name], overrides)["FINOPS_WAREHOUSE_URL"])
        assert url.scheme == "postgresql+psycopg2"
        assert (url.hostname, url.port) == ("postgres", 5432)
        assert unquote(url.username or "") == postgres_env["POSTGRES_USER"]
        assert unquote(url.password or "") == postgres_env["POSTGRES_PASSWORD"]
        database = url.path.lstrip("/")
        assert database and database != postgres_env["POSTGRES_DB"]
        assert database in created_databases(sql), f"{init_dir.relative_to(ROOT)} does not create {database!r}"


# --------------------------------------------------------------------------------------------
# Dockerfile


def test_dockerfile_installs_the_lock_file_then_the_project():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert ("WORKDIR", "/opt/finops") in instructions

    copy_lock = _index(
        instructions,
        lambda op, args: op == "COPY" and {"requirements.lock", "pyproject.toml"} <= set(args.split()[:-1]),
        "COPY of requirements.lock and pyproject.toml",
    )
    install_lock = _index(
        instructions,
        lambda op, args: op == "RUN" and re.search(r"pip install (.* )?-r requirements\.lock\b", args),
        "`pip install -r requirements.lock`",
    )
    copy_project = _index(instructions, lambda op, args: op == "COPY" and args == ". .", "`COPY . .`")
    install_project = _index(
        instructions,
        lambda op, args: op == "RUN" and re.search(r"pip install (.* )?--no-deps (.* )?-e \.(\s|$)", args),
        "`pip install --no-deps -e .`",
    )
    assert copy_lock < install_lock < copy_project < install_project


def test_dockerfile_sets_up_the_dagster_instance():
    instructions = dockerfile_instructions()
    env_text = " ".join(args for op, args in instructions if op == "ENV")
    assert f"DAGSTER_HOME={DAGSTER_HOME}" in env_text.split()
    assert "FINOPS_DATA_DIR=/data" in env_text.split()
    assert any(
        op == "COPY" and args.split()[0] == "dagster.yaml" and args.split()[-1] in (f"{DAGSTER_HOME}/dagster.yaml", f"{DAGSTER_HOME}/")
        for op, args in instructions
    ), "dagster.yaml must be copied into DAGSTER_HOME"


def test_dockerignore_keeps_what_the_image_needs():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for needed in ("requirements.lock", "pyproject.toml", "dagster.yaml", "workspace.yaml", "finops_pipeline", "transforms"):
        assert needed not in ignored


# --------------------------------------------------------------------------------------------
# Dagster's own schemas (no database connection)


def test_dagster_yaml_is_valid_instance_config(monkeypatch):
    pytest.importorskip("dagster")
    from dagster._core.instance.config import dagster_instance_config
    from dagster._core.instance.ref import InstanceRef

    for var, value in {
        "DAGSTER_PG_HOST": "postgres",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_USER": "dagster",
        "DAGSTER_PG_PASSWORD": "dagster",
        "DAGSTER_PG_DB": "dagster",
    }.items():
        monkeypatch.setenv(var, value)

    config, custom_instance_class = dagster_instance_config(str(ROOT))
    assert custom_instance_class is None
    assert "postgres" in config["storage"]

    # Builds the run coordinator from its config (imports the class, checks its own schema).
    coordinator = InstanceRef.from_dir(str(ROOT)).run_coordinator
    assert type(coordinator).__name__ == "QueuedRunCoordinator"
    queue = coordinator.get_run_queue_config()
    assert queue.max_concurrent_runs == 4
    assert queue.tag_concurrency_limits == [{"key": "dagster/backfill", "limit": 2}]


def test_workspace_yaml_is_valid_workspace_config(workspace):
    pytest.importorskip("dagster")
    from dagster._core.workspace.config_schema import ensure_workspace_config

    ensure_workspace_config(workspace, str(ROOT / "workspace.yaml"))


# --------------------------------------------------------------------------------------------
# The read API service


def test_api_service_serves_the_read_api_on_port_8000(services):
    api = services["api"]
    args = command_args(api)
    assert args[:2] == ["finops", "api"]
    from finops_pipeline.cli import build_parser, cmd_api

    parsed = build_parser().parse_args(args[1:])  # the CLI accepts exactly this command line
    assert parsed.func is cmd_api
    assert (parsed.host, parsed.port) == ("0.0.0.0", 8000)
    assert published_ports(api) == [("", "8000", "8000")]
    assert "/health" in " ".join(map(str, api["healthcheck"]["test"]))


def test_api_runs_the_pipeline_image_on_the_same_warehouse(services):
    api, user_code = services["api"], services["user_code"]
    assert api["image"] == user_code["image"] and api["build"] == user_code["build"]
    for overrides in ({}, {"POSTGRES_USER": "alice", "POSTGRES_PASSWORD": "s3cret"}):
        api_env, dagster_env = service_env(api, overrides), service_env(user_code, overrides)
        for var in ("FINOPS_WAREHOUSE_URL", "FINOPS_WAREHOUSE_READER_ROLE", "FINOPS_REPORTING_CURRENCY"):
            assert api_env[var] == dagster_env[var], var
    # What the API does not need, it does not get.
    api_env = service_env(api)
    assert not {var for var in api_env if var.startswith(("DAGSTER_PG_", "SLACK_"))}
    assert not volume_mounts(api)


@pytest.mark.parametrize("name", FINOPS_SERVICES)
def test_every_variable_a_finops_service_gets_is_read(instance_config, services, name):
    """A misspelt variable in the compose file would be silently ignored: each one must be read by
    finops_pipeline/settings.py (FINOPS_*, SLACK_*) or by dagster.yaml (DAGSTER_PG_*)."""
    settings_source = (ROOT / "finops_pipeline" / "settings.py").read_text()
    read_by_settings = set(re.findall(r'"((?:FINOPS|SLACK)_[A-Z0-9_]+)"', settings_source))
    unread = sorted(set(service_env(services[name])) - read_by_settings - env_references(instance_config))
    assert not unread, f"{name} sets {unread}, which neither settings.py nor dagster.yaml reads"


def test_slack_credentials_reach_the_dagster_services_from_the_shell(services):
    """Sensors run in user_code and alert from there; the secrets come from the shell or .env."""
    for name in DAGSTER_SERVICES:
        raw = services[name]["environment"]
        for var in ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL"):
            assert str(raw[var]) == f"${{{var}:-}}", f"{name}: {var} must be passed through, empty by default"
        assert service_env(services[name], {"SLACK_WEBHOOK_URL": "https://hooks.example/x"})["SLACK_WEBHOOK_URL"] \
            == "https://hooks.example/x"


def test_published_host_ports(services):
    published = {name: [(ip, host) for ip, host, _ in published_ports(service)] for name, service in services.items()}
    assert published == {
        "postgres": [("127.0.0.1", "5432")],
        "user_code": [],
        "webserver": [("", "3000")],
        "daemon": [],
        "api": [("", "8000")],
        "metabase": [("", "3030")],
    }


def test_dockerfile_exposes_the_ports_its_services_listen_on(services):
    exposed = {port for op, args in dockerfile_instructions() if op == "EXPOSE" for port in args.split()}
    listening = {
        option(command_args(services["user_code"]), "-p", "--port"),
        option(command_args(services["webserver"]), "-p", "--port"),
        option(command_args(services["api"]), "--port"),
    }
    assert listening == {"3000", "4000", "8000"} <= exposed


# --------------------------------------------------------------------------------------------
# BI: the `bi` profile (Metabase) and the read-only finops_reader role


def test_only_metabase_is_optional(services):
    assert services["metabase"]["profiles"] == ["bi"]
    assert [name for name, service in services.items() if service.get("profiles")] == ["metabase"]


@pytest.mark.parametrize("overrides", [{}, {"POSTGRES_USER": "alice", "POSTGRES_PASSWORD": "s3cret"}])
def test_metabase_keeps_its_settings_in_a_database_the_init_script_creates(services, overrides):
    metabase = services["metabase"]
    image, _, tag = str(metabase["image"]).partition(":")
    assert image == "metabase/metabase" and re.fullmatch(r"v\d+\.\d+\.\d+", tag), "pin a Metabase release"
    env = service_env(metabase, overrides)
    postgres_env = service_env(services["postgres"], overrides)
    assert (env["MB_DB_TYPE"], env["MB_DB_HOST"], env["MB_DB_PORT"]) == ("postgres", "postgres", "5432")
    assert (env["MB_DB_USER"], env["MB_DB_PASS"]) == (postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_PASSWORD"])
    assert env["MB_DB_DBNAME"] in created_databases(init_sql())
    assert "/api/health" in " ".join(map(str, metabase["healthcheck"]["test"]))


def _warehouse_database(services) -> str:
    return urlsplit(service_env(services["user_code"])["FINOPS_WAREHOUSE_URL"]).path.lstrip("/")


def test_init_sql_creates_the_reader_role_the_pipeline_grants_to(services):
    sql = init_sql()
    created = re.findall(r"CREATE\s+ROLE\s+(\w+)", sql, re.IGNORECASE)
    assert created == [READER_ROLE]
    for name in FINOPS_SERVICES:
        assert service_env(services[name])["FINOPS_WAREHOUSE_READER_ROLE"] == READER_ROLE, name
    assert re.search(r"IF\s+NOT\s+EXISTS\s*\(\s*SELECT\s+FROM\s+pg_roles\s+WHERE\s+rolname\s*=\s*"
                     rf"'{READER_ROLE}'", sql, re.IGNORECASE), "roles are cluster-wide: create it only if missing"
    assert re.search(rf"ALTER\s+ROLE\s+{READER_ROLE}\s+WITH\s+LOGIN\s+NOSUPERUSER\b", sql, re.IGNORECASE)

    database = _warehouse_database(services)
    assert re.search(rf"GRANT\s+CONNECT\s+ON\s+DATABASE\s+{database}\s+TO\s+{READER_ROLE}\s*;", sql, re.IGNORECASE)
    # Schema USAGE inside the warehouse database; SELECT on tables only ever from grants.py.
    inside = sql.split(f"\\connect {database}", 1)
    assert len(inside) == 2, f"the init SQL must \\connect {database} to grant schema usage"
    assert re.search(rf"GRANT\s+USAGE\s+ON\s+SCHEMA\s+public\s+TO\s+{READER_ROLE}\s*;", inside[1], re.IGNORECASE)
    assert not re.search(r"GRANT\s+SELECT|DEFAULT\s+PRIVILEGES", sql, re.IGNORECASE)


def test_reader_password_comes_from_the_postgres_service_environment(services):
    variables = re.findall(r"\\getenv\s+(\w+)\s+(\w+)", init_sql())
    assert len(variables) == 1
    psql_var, env_var = variables[0]
    raw = str(services["postgres"]["environment"][env_var])
    assert re.fullmatch(r"\$\{" + env_var + r":-[^}]+\}", raw), "overridable, with a development default"
    assert f"PASSWORD :'{psql_var}'" in init_sql(), "the password is passed as a quoted psql variable"
    assert service_env(services["postgres"], {env_var: "pw"})[env_var] == "pw"


def test_operations_doc_tells_how_to_connect_metabase(services):
    doc = (ROOT / "docs" / "operations.md").read_text()
    metabase = doc.split("### Metabase", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    env_var = re.findall(r"\\getenv\s+\w+\s+(\w+)", init_sql())[0]
    for needed in (READER_ROLE, _warehouse_database(services), "postgres", "5432", "--profile bi", "3030", env_var):
        assert needed in metabase, f"docs/operations.md, Metabase: {needed!r} not mentioned"


def test_output_and_internal_tables_cover_the_contract():
    """Every warehouse table is either readable by BI (grants.py OUTPUT_TABLES) or internal; a new
    table must be put in one of the two (until then it is not granted)."""
    from finops_pipeline.warehouse.grants import INTERNAL_TABLES, OUTPUT_TABLES
    from finops_pipeline.warehouse.schema import metadata

    assert not set(OUTPUT_TABLES) & set(INTERNAL_TABLES)
    assert set(OUTPUT_TABLES) | set(INTERNAL_TABLES) == set(metadata.tables)
    assert {"api_tokens", "alert_outbox", "anomaly_feedback"} <= set(INTERNAL_TABLES)


def test_reader_grants_do_nothing_on_sqlite(tmp_path, monkeypatch):
    from finops_pipeline.warehouse.engine import ensure_tables, make_engine

    monkeypatch.setenv("FINOPS_WAREHOUSE_READER_ROLE", READER_ROLE)
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    ensure_tables(engine)  # no GRANT on SQLite, and no error
    engine.dispose()


# --------------------------------------------------------------------------------------------
# The init SQL and grants.py on a real PostgreSQL (FINOPS_TEST_POSTGRES_URL)

READER_TEST_PASSWORD = "finops_reader_test"  # trust auth on CI and locally; a password all the same


def _psql_command(url) -> tuple[list[str], dict[str, str]]:
    """psql reading a script, connected like the postgres image's entrypoint: ON_ERROR_STOP, no psqlrc."""
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed (the init script is a psql script: \\getenv, \\if, \\connect)")
    version = subprocess.run([psql, "--version"], capture_output=True, text=True, check=True).stdout
    if int(re.search(r"(\d+)(?:\.\d+)*", version).group(1)) < 15:
        pytest.skip(f"psql 15+ is needed for \\getenv; this is {version.strip()}")
    args = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
            "-U", url.username or "postgres", "-d", url.database or "postgres"]
    env = {**os.environ, "WAREHOUSE_READER_PASSWORD": READER_TEST_PASSWORD}
    if url.password:
        env["PGPASSWORD"] = url.password
    return args, env


def _pg_error(excinfo) -> str:
    return getattr(excinfo.value.orig, "pgcode", None)


@pytest.fixture
def scratch_databases():
    """The test server's admin URL, and scratch database names (unique: several runs may share the
    server) that are dropped afterwards, whatever happens."""
    base = os.environ.get("FINOPS_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("FINOPS_TEST_POSTGRES_URL is not set (CI sets it in .ci/run; locally e.g. "
                    "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    suffix = uuid.uuid4().hex[:10]
    names = {"warehouse": f"finops_grants_{suffix}", "metabase": f"finops_grants_{suffix}_mb"}
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        yield make_url(base), names
    finally:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_reader_role_reads_the_output_tables_only(scratch_databases, monkeypatch, tmp_path):
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    from finops_pipeline.warehouse.engine import ensure_tables, make_engine
    from finops_pipeline.warehouse.grants import INTERNAL_TABLES, OUTPUT_TABLES

    admin_url, names = scratch_databases
    # The init script as the postgres image runs it, with scratch database names.
    sql = init_sql()
    assert created_databases(sql) == {"finops_warehouse", "metabase"}
    for database, scratch in (("finops_warehouse", names["warehouse"]), ("metabase", names["metabase"])):
        sql = re.sub(rf"\b{database}\b", scratch, sql)
    script = tmp_path / "init.sql"
    script.write_text(sql)
    args, env = _psql_command(admin_url)
    for _ in range(2):  # the second time on what the first created: the script can be re-run
        result = subprocess.run([*args, "-f", str(script)], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    # Without the password it refuses to run (it checks that first).
    env.pop("WAREHOUSE_READER_PASSWORD")
    result = subprocess.run([*args, "-f", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "WAREHOUSE_READER_PASSWORD is not set" in result.stderr

    # The pipeline creates the tables and, told the reader role, grants it SELECT on the outputs.
    monkeypatch.setenv("FINOPS_WAREHOUSE_READER_ROLE", READER_ROLE)
    owner_url = admin_url.set(database=names["warehouse"])
    owner = make_engine(owner_url.render_as_string(hide_password=False))
    reader = create_engine(owner_url.set(username=READER_ROLE, password=READER_TEST_PASSWORD))
    try:
        ensure_tables(owner)

        def select(table: str) -> None:
            with reader.connect() as conn:
                conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()

        def denied(table: str) -> bool:
            with pytest.raises(DBAPIError) as excinfo:
                select(table)
            return _pg_error(excinfo) == "42501"  # insufficient_privilege

        for table in OUTPUT_TABLES:
            select(table)
        assert all(denied(table) for table in INTERNAL_TABLES)

        with reader.connect() as conn:
            # Sessions start read-only (the init script's role settings)...
            with pytest.raises(DBAPIError) as excinfo:
                conn.execute(text("INSERT INTO fct_costs_monthly (billing_month) VALUES ('2024-01')"))
            assert _pg_error(excinfo) == "25006"  # read_only_sql_transaction
            conn.rollback()
            # ...and asking for a read-write transaction does not help: no privilege to write.
            for statement in ("INSERT INTO fct_costs_monthly (billing_month) VALUES ('2024-01')",
                              "DELETE FROM fct_costs_monthly", "UPDATE dim_projects SET owner = 'x'",
                              "CREATE TABLE public.reader_table (x int)"):
                conn.execute(text("SET TRANSACTION READ WRITE"))
                with pytest.raises(DBAPIError) as excinfo:
                    conn.execute(text(statement))
                assert _pg_error(excinfo) == "42501", statement
                conn.rollback()

        # A table created later (here: a newer version's, or one dropped by hand) is granted by
        # the next ensure_tables; a grant on an internal table (ALTER DEFAULT PRIVILEGES, by
        # hand) is revoked.
        with owner.begin() as conn:
            conn.execute(text("DROP TABLE fct_cost_drivers"))
            conn.execute(text(f"GRANT SELECT ON api_tokens TO {READER_ROLE}"))
        select("api_tokens")  # the grant above works...
        ensure_tables(owner)
        select("fct_cost_drivers")
        assert denied("api_tokens")  # ...until the pipeline next touches the warehouse
    finally:
        owner.dispose()
        reader.dispose()


def test_reader_grants_skip_a_missing_role(postgres_url, monkeypatch, caplog):
    """FINOPS_WAREHOUSE_READER_ROLE naming no role: the pipeline still works, and says why not."""
    from finops_pipeline.warehouse.engine import ensure_tables, make_engine

    role = f"finops_missing_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("FINOPS_WAREHOUSE_READER_ROLE", role)
    engine = make_engine(postgres_url)
    try:
        with caplog.at_level("WARNING", logger="finops_pipeline.warehouse.grants"):
            ensure_tables(engine)
            ensure_tables(engine)
        warnings = [r.getMessage() for r in caplog.records if role in r.getMessage()]
        assert len(warnings) == 1 and "does not exist" in warnings[0]
    finally:
        engine.dispose()


def test_dagster_yaml_loads_a_real_instance(postgres_url, tmp_path, monkeypatch):
    """The instance the services run: dagster.yaml on PostgreSQL (Dagster creates its schema), with
    the run launcher, queue and monitoring settings it is meant to have (Dagster checks at load that
    the launcher supports the monitoring settings)."""
    pytest.importorskip("dagster")
    from dagster import DagsterInstance
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    for var, value in {"DAGSTER_HOME": str(tmp_path), "DAGSTER_PG_HOST": url.host or "127.0.0.1",
                       "DAGSTER_PG_PORT": str(url.port or 5432), "DAGSTER_PG_USER": url.username or "postgres",
                       "DAGSTER_PG_PASSWORD": url.password or "unused", "DAGSTER_PG_DB": url.database}.items():
        monkeypatch.setenv(var, value)
    with DagsterInstance.get() as instance:
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert instance.run_monitoring_enabled and instance.run_monitoring_max_resume_run_attempts == 0
        queue = instance.get_concurrency_config().run_queue_config
        assert (queue.max_concurrent_runs, queue.max_user_code_failure_retries) == (4, 5)
        assert instance.managed_python_loggers == ["finops_pipeline"]
        assert instance.get_runs() == []  # the run storage answers
