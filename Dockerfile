# syntax=docker/dockerfile:1
# The image the Kubernetes manifests run (deploy/k8s/*.yaml: image moai-flow:latest):
#   docker build -t moai-flow:latest .
# Two stages: the builder compiles both binaries with the locked dependencies; the runtime image
# is Debian slim with only the binaries, running as an unprivileged user. tests/dockerfile.rs
# checks that every path, binary, flag, user and variable named here and in the manifests exists
# and agrees (no container builder runs in CI).

# The workspace's rust-version (Cargo.toml), on the runtime image's Debian release (same glibc).
FROM rust:1.89-slim-bookworm AS build
WORKDIR /src
# The whole workspace (.dockerignore leaves out target/ and local state): every member's manifest
# must be there for cargo to load the workspace.
COPY . .
# moai-health with the `postgres` feature (its default, named here because the PostgreSQL-mode
# manifest gives it MOAI_DB_URL). The cache mounts keep downloads and build files between
# builds; the binaries are copied out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin moai-flow \
 && cargo build --release --locked -p moai-health --features postgres --bin moai-health \
 && install -D -m 0755 -t /out target/release/moai-flow target/release/moai-health

FROM debian:bookworm-slim
# An unprivileged user with fixed ids, which the manifests' securityContext names.
RUN groupadd --system --gid 10001 moai \
 && useradd --system --uid 10001 --gid moai --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin moai \
 && mkdir -p /data/memory /var/log/moai-flow \
 && chown -R moai:moai /data /var/log/moai-flow
COPY --from=build /out/moai-flow /out/moai-health /usr/local/bin/
# /data is the app's `.moai/` (SwarmDB in memory/swarm.db), /var/log/moai-flow its log directory:
# the paths the manifests mount and set, so `docker run` behaves as the pod does.
ENV MOAI_METRICS_ADDR=0.0.0.0:9090 \
    MOAI_DB_PATH=/data/memory/swarm.db \
    MOAI_LOG_DIR=/var/log/moai-flow
WORKDIR /data
VOLUME ["/data", "/var/log/moai-flow"]
USER 10001:10001
# /metrics, /livez, /readyz, /healthz.
EXPOSE 9090
CMD ["/usr/local/bin/moai-flow"]
