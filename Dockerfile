# The rserve image: one binary (node daemon and CLI), run as a non-root user.
#
#   docker build -t rserve:latest .
#   docker run --rm -p 8000:8000 rserve:latest up --demo
#
# At run time the binary needs glibc (2.34 or newer; built here on Debian
# bookworm's 2.36), libgcc_s and libm, and nothing else: no Python, no model
# files for the bundled digits demo (its weights are in the binary), no system
# CA store (the mesh trusts only the cluster CA in its state dir;
# ca-certificates is here for the tools of whoever extends the image). Real
# models' weights are files the application file names: mount them.
# CUDA: Dockerfile.cuda. Kubernetes: docs/kubernetes.md.

ARG RUST_IMAGE=rust:bookworm

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# The caches keep the registry and the build between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p rserve \
    && cp target/release/rserve /usr/local/bin/rserve

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 rserve \
    && useradd --system --uid 10001 --gid rserve --no-create-home \
       --home-dir /var/lib/rserve --shell /usr/sbin/nologin rserve \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/rserve
COPY --from=build /usr/local/bin/rserve /usr/local/bin/rserve
# Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
# The state dir is a directory under /var/lib/rserve that the node creates (and
# makes 0700): mount a volume at /var/lib/rserve.
ENV RSERVE_STATE_DIR=/var/lib/rserve/state \
    RSERVE_HTTP_ADDR=0.0.0.0:8000 \
    RSERVE_CONTROL_ADDR=0.0.0.0:7000
EXPOSE 8000/tcp 7000/udp
ENTRYPOINT ["rserve"]
CMD ["up"]
