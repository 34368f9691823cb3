# syntax=docker/dockerfile:1
# Build: a wheel-free install into a virtualenv; run: a slim image, non-root.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY setup.cfg pyproject.toml README.md ./
COPY scoreboard ./scoreboard
COPY sql ./sql
RUN pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home /app scoreboard
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    SCOREBOARD_DATA_DIR=/app/data \
    PYTHONUNBUFFERED=1
WORKDIR /app
USER scoreboard
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"
# REDIS_URL, DATABASE_URL and JWT_SECRET come from the environment (see docker-compose.yml)
CMD ["scoreboard", "serve", "--host", "0.0.0.0", "--port", "8080"]
