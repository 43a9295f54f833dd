# runfleet: one image holding runfleet-producer, runfleet-worker,
# runfleet-reaper and runfleet-fake-scraper.
#
#   docker build -t runfleet:local .
#   docker run --rm runfleet:local runfleet-worker --help
#
# The command names the program (there is no ENTRYPOINT). Every program
# reads RUNFLEET_CONFIG (default /etc/runfleet/runfleet.cfg: mount your
# file there) and serves /metrics, /healthz and /readyz on
# RUNFLEET_HTTP_LISTEN:RUNFLEET_HTTP_PORT (0.0.0.0:9400 in this image; the
# environment wins over the file). Keep secrets in the environment
# (RUNFLEET_DATABASE_URL), never in the image.
#
# tests/deploy/ (meson test --suite deploy) checks this file against the
# programs' shared libraries, docker-compose.yml and deploy/k8s.

ARG DEBIAN_RELEASE=bookworm

# ---------------------------------------------------------------- build
FROM debian:${DEBIAN_RELEASE} AS build

# The -dev packages of scripts/install-deps, plus the build tools.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config meson ninja-build python3 \
        librdkafka-dev libcurl4-openssl-dev libavro-dev libpq-dev libconfig-dev \
        libjansson-dev libmicrohttpd-dev uuid-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# Only the four programs: the test and benchmark executables are not needed.
RUN meson setup /build --buildtype=debugoptimized \
 && meson compile -C /build runfleet-producer runfleet-worker runfleet-reaper runfleet-fake-scraper \
 && mkdir -p /out \
 && cp /build/producer/runfleet-producer /build/worker/runfleet-worker \
       /build/reaper/runfleet-reaper /build/tests/fake-scraper/runfleet-fake-scraper /out/ \
 && strip --strip-unneeded /out/* \
 && /out/runfleet-worker --version

# -------------------------------------------------------------- runtime
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# Runtime libraries only (what the binaries link, checked by
# tests/deploy/check_dockerfile.py), CA certificates for TLS to Kafka,
# PostgreSQL and scrapers, time zones for producer.timezone, and curl for
# the HEALTHCHECK.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        librdkafka1 libcurl4 libavro23 libpq5 libconfig9 libjansson4 \
        libmicrohttpd12 libuuid1 ca-certificates tzdata curl \
 && rm -rf /var/lib/apt/lists/*

# A fixed numeric non-root user, so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 runfleet \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin runfleet

COPY --from=build /out/ /usr/local/bin/
COPY config/runfleet.example.cfg /etc/runfleet/runfleet.example.cfg

ENV RUNFLEET_CONFIG=/etc/runfleet/runfleet.cfg \
    RUNFLEET_HTTP_LISTEN=0.0.0.0 \
    RUNFLEET_HTTP_PORT=9400

USER 10001:10001
WORKDIR /tmp
EXPOSE 9400

# /healthz answers 200 while the program's main loop turns (worker, reaper,
# `runfleet-producer evaluate --every`). One-shot commands (migrate) and the
# fake scraper override or disable it (see docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${RUNFLEET_HTTP_PORT}/healthz" || exit 1

CMD ["runfleet-worker"]
