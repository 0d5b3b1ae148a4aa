# One image for every app process of docker-compose.yml; the command picks the process:
#   python -m services.enrollment | services.billing | orchestrator | orchestrator.worker
#   | orchestrator.codec_server
# and `python -m services.enrollment db upgrade head` (or services.billing, orchestrator) migrates.
FROM python:3.11.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The runtime lock only: no test tools in the image. Its own layer, rebuilt when it changes.
COPY requirements.runtime.lock .
RUN pip install --no-deps -r requirements.runtime.lock

# The code, with each database's migrations (services/*/migrations, orchestrator/migrations,
# common/alembic_env): the apps apply them at start.
COPY common ./common
COPY sagas ./sagas
COPY workflows ./workflows
COPY choreography ./choreography
COPY services ./services
COPY orchestrator ./orchestrator

RUN useradd --system --uid 10001 --home-dir /app app
USER app

# Production unless told otherwise: refuses to start without PAYLOAD_KEYS.
ENV ENVIRONMENT=production
EXPOSE 8000 8001 8002 8081
CMD ["python", "-m", "orchestrator"]
