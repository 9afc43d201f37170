"""Consistency checks for the deployment files.

dagster.yaml, workspace.yaml, docker-compose.yml, Dockerfile and deploy/postgres-init/ name the
same things (services, ports, variables, databases) in different places; these tests make sure
they agree. They read the files only: no Docker engine, no database, and no import of the
finops package. (The two schema checks at the end import Dagster itself, and are skipped where it
is not installed.)
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

DAGSTER_SERVICES = ("user_code", "webserver", "daemon")
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


def volume_mounts(service: dict) -> list[tuple[str, str]]:
    """(source, target) for each volume of a service, short or long syntax."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            mounts.append((str(volume.get("source", "")), str(volume["target"])))
        else:
            parts = str(volume).split(":")
            mounts.append((parts[0], parts[1]) if len(parts) > 1 else ("", parts[0]))
    return mounts


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
    assert {"postgres", *DAGSTER_SERVICES} <= set(services)


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


@pytest.mark.parametrize("name", DAGSTER_SERVICES)
def test_dagster_services_wait_for_healthy_postgres(services, name):
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
    assert instance_config["run_monitoring"]["enabled"] is True
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
    sql = "\n".join(path.read_text() for path in sorted(init_dir.glob("*.sql")))

    postgres_env = service_env(postgres, overrides)
    for name in DAGSTER_SERVICES:
        url = urlsplit(service_env(services[name], overrides)["FINOPS_WAREHOUSE_URL"])
        assert url.scheme == "postgresql+psycopg2"
        assert (url.hostname, url.port) == ("postgres", 5432)
        assert unquote(url.username or "") == postgres_env["POSTGRES_USER"]
        assert unquote(url.password or "") == postgres_env["POSTGRES_PASSWORD"]
        database = url.path.lstrip("/")
        assert database and database != postgres_env["POSTGRES_DB"]
        assert re.search(rf'CREATE\s+DATABASE\s+"?{re.escape(database)}"?\s*;', sql, re.IGNORECASE), (
            f"{init_dir.relative_to(ROOT)} does not create {database!r}"
        )


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
