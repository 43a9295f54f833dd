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

# The -dev packages of scripts/install-deps, plus the build tools; librdkafka
# comes from scripts/build-librdkafka below (Debian 12's is too old), so
# its build dependencies are here instead of librdkafka-dev.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config meson ninja-build python3 dpkg-dev \
        libssl-dev libsasl2-dev zlib1g-dev libzstd-dev liblz4-dev \
        libcurl4-openssl-dev libavro-dev libpq-dev libconfig-dev \
        libjansson-dev libmicrohttpd-dev uuid-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# A current librdkafka as the host gets it: Debian's source package, through
# apt with a deb-src entry derived from this image's own configured mirror
# (/etc/apt/sources.list.d/debian.sources), built and installed into
# /usr/local. Only what the script reads is copied first, so this layer is
# rebuilt when the script or meson.build's minimum changes, not on every
# source edit.
COPY meson.build /src/meson.build
COPY scripts/lib.sh scripts/build-librdkafka /src/scripts/
RUN scripts/build-librdkafka --prefix /usr/local \
 && rm -rf /src/.runfleet /var/lib/apt/lists/*

COPY . .
# Only the four programs: the test and benchmark executables are not needed.
RUN meson setup /build --buildtype=debugoptimized \
 && meson compile -C /build runfleet-producer runfleet-worker runfleet-reaper runfleet-fake-scraper \
 && mkdir -p /out/bin /out/lib \
 && cp /build/producer/runfleet-producer /build/worker/runfleet-worker \
       /build/reaper/runfleet-reaper /build/tests/fake-scraper/runfleet-fake-scraper /out/bin/ \
 && cp -L /usr/local/lib/librdkafka.so.1 /out/lib/ \
 && strip --strip-unneeded /out/bin/* /out/lib/* \
 && /out/bin/runfleet-worker --version

# -------------------------------------------------------------- runtime
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# Runtime libraries only (what the binaries and the build stage's
# librdkafka link, checked by tests/deploy/check_dockerfile.py), CA
# certificates for TLS to Kafka, PostgreSQL and scrapers, time zones for
# producer.timezone, and curl for the HEALTHCHECK.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libcurl4 libavro23 libpq5 libconfig9 libjansson4 libmicrohttpd12 libuuid1 \
        libssl3 libzstd1 liblz4-1 zlib1g ca-certificates tzdata curl \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

COPY --from=build /out/lib/ /usr/local/lib/
# The dynamic linker's cache learns /usr/local/lib's librdkafka; a fixed
# numeric non-root user, so Kubernetes' runAsNonRoot can verify it.
RUN ldconfig \
 && groupadd --system --gid 10001 runfleet \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin runfleet

COPY --from=build /out/bin/ /usr/local/bin/
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
