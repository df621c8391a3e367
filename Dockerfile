# The intake worker. Same install steps as the README: pip install the project.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

# LibreOffice Writer (headless) reads .doc, .odt and .rtf forms; without it they go
# to manual review ("unsupported").
RUN apt-get update \
    && apt-get install -y --no-install-recommends libreoffice-writer-nogui fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system intake && useradd --system --gid intake --home-dir /app intake

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY intake ./intake
COPY rules ./rules
COPY templates ./templates
RUN pip install --no-cache-dir -c constraints.txt . \
    && mkdir -p /config /data \
    && chown intake:intake /data

# settings.toml is mounted at /config; the store (and shadow folder) live on /data.
# Point the settings at them: [store] path = "/data/intake.sqlite3". The default
# rules and templates are inside the installed package.
VOLUME ["/config", "/data"]
USER intake

HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["intake", "--config", "/config/settings.toml", "health"]

ENTRYPOINT ["intake", "--config", "/config/settings.toml"]
CMD ["run"]
# The web page is a second container from this image on the same /data volume:
# `docker run ... --no-healthcheck -p 127.0.0.1:8080:8080 IMAGE web` (README, "In Docker").
