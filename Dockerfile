# TestArena images, built with BuildKit (the default builder since Docker 23;
# on older engines set DOCKER_BUILDKIT=1). Three targets:
#
#   runtime (the default)  slim Debian + the one `testarena` binary, non-root;
#                          runs `projector`, `init` (or any subcommand)
#   scheduler              runtime + git: the scheduler's bisect driver lists a
#                          range's first-parent commits with git
#   worker                 runtime + git, python3, make, arm-none-eabi-gcc,
#                          newlib and qemu-system-arm, the worker profiles in
#                          /etc/testarena/worker.toml and the qemu-arm example
#                          as a git repository at /srv/examples/qemu-arm (main)
#
#   docker build -t testarena .                       # compiles in the rust stage
#   docker build --target worker -t testarena-worker .
#
# Build arguments (see docs/deployment.md):
#   RUST_IMAGE     the Rust toolchain image of the build stage
#   RUNTIME_IMAGE  the Debian base of both targets
#   BINARY_SOURCE  `compiled` (default): cargo builds the binary in the rust
#                  stage; `prebuilt`: take target/docker/testarena from the
#                  build context instead, a binary built on a host with
#                  glibc <= bookworm's, e.g.
#                    cargo build --release && mkdir -p target/docker &&
#                    strip --strip-debug -o target/docker/testarena target/release/testarena
#                  (scripts/test-compose does this: offline it has no rust
#                  image). BuildKit skips the stage that is not used.
ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG BINARY_SOURCE=compiled

# --- the binary ---------------------------------------------------------------
FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Only what cargo reads, so a change to docs or deploy files does not rebuild.
# A top-level folder the build starts to need must be added here.
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY crates crates
COPY services services
COPY migrations migrations
COPY tests tests
COPY benches benches
COPY examples/qemu-arm/worker.toml examples/qemu-arm/worker.toml
COPY examples/qemu-arm/queue.json examples/qemu-arm/queue.json
# The caches keep the crates and the incremental build between image builds;
# the binary is copied out of the cache mount in the same step. No debug info
# (the repo's release profile keeps line tables: 4x the size); symbols stay,
# so a panic's backtrace still names functions.
ENV CARGO_PROFILE_RELEASE_DEBUG=false
RUN --mount=type=cache,id=testarena-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=testarena-target,target=/src/target \
    cargo build --release --locked --bin testarena \
    && install -D -m 0755 target/release/testarena /out/testarena

FROM scratch AS binary-compiled
COPY --from=build /out/testarena /testarena

FROM scratch AS binary-prebuilt
COPY target/docker/testarena /testarena

FROM binary-${BINARY_SOURCE} AS binary

# --- what both targets share --------------------------------------------------
FROM ${RUNTIME_IMAGE} AS base
# A fixed uid/gid, so a host folder can be chowned to match.
RUN groupadd --system --gid 10001 testarena \
    && useradd --system --uid 10001 --gid testarena --no-create-home \
        --home-dir /var/lib/testarena --shell /usr/sbin/nologin testarena \
    && install -d -o testarena -g testarena -m 0750 /var/lib/testarena
COPY deploy/healthcheck.sh /usr/local/bin/testarena-healthcheck
# Defaults that make sense in a container; compose sets them again explicitly.
# Listening on 127.0.0.1 (the binary's default) would be unreachable here.
ENV TESTARENA_DATA_DIR=/var/lib/testarena \
    TESTARENA_LISTEN=0.0.0.0:8080
WORKDIR /var/lib/testarena
ENTRYPOINT ["testarena"]
CMD ["--help"]

# --- worker: the toolchain and emulator the qemu-arm profile runs -------------
FROM base AS worker-tools
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates git make python3 \
        gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm \
    && rm -rf /var/lib/apt/lists/*
COPY examples/qemu-arm/worker.toml /etc/testarena/worker.toml
# The example as the git repository a queue names (`/srv/examples/qemu-arm`,
# ref `main`), owned by the worker's user so git trusts it.
COPY --chown=testarena:testarena examples/qemu-arm /srv/examples/qemu-arm
USER testarena
RUN git -C /srv/examples/qemu-arm init -q -b main \
    && git -C /srv/examples/qemu-arm add -A \
    && git -C /srv/examples/qemu-arm -c user.name=TestArena -c user.email=testarena@localhost \
        commit -q -m "qemu-arm example"
ENV TESTARENA_WORKER_CONFIG=/etc/testarena/worker.toml

FROM worker-tools AS worker
COPY --from=binary /testarena /usr/local/bin/testarena
CMD ["worker"]

# --- scheduler: the runtime plus git, for the bisect driver -------------------
# Its own image, so the runtime image of the other services stays small
# (git brings perl and libcurl: about 200 MB).
FROM base AS scheduler-tools
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates git \
    && rm -rf /var/lib/apt/lists/*

FROM scheduler-tools AS scheduler
COPY --from=binary /testarena /usr/local/bin/testarena
USER testarena
CMD ["scheduler"]

# --- runtime (last, so it is the default target) ------------------------------
FROM base AS runtime
COPY --from=binary /testarena /usr/local/bin/testarena
USER testarena
EXPOSE 8080
