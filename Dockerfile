# One image for the Dagster services of docker-compose.yml (user_code, webserver, daemon) and the
# read API (api, `finops api`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/finops

# Dependencies first, pinned by the lock file, so this layer is rebuilt only when they change.
COPY requirements.lock pyproject.toml ./
RUN pip install -r requirements.lock

# Then the project itself (dependencies are already installed, exactly as pinned).
COPY . .
RUN pip install --no-deps -e .

# Dagster instance: PostgreSQL storage configured from DAGSTER_PG_* (see dagster.yaml).
ENV DAGSTER_HOME=/opt/dagster/dagster_home \
    FINOPS_DATA_DIR=/data
RUN mkdir -p "$DAGSTER_HOME" /data
COPY dagster.yaml /opt/dagster/dagster_home/dagster.yaml

# 3000 dagster-webserver, 4000 the code location's gRPC server, 8000 the read API.
EXPOSE 3000 4000 8000

# docker-compose.yml sets the command of each service; by default serve the code location.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "finops_pipeline.definitions", "--location-name", "finops_pipeline"]
