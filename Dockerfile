# madbus container image: a release build in a Rust image, run in a small Debian image as a
# non-root user. Every setting is a MADBUS_* variable (see README, "Command line").
#
#   docker build -t madbus .                      # or: buildah bud -t madbus .
#   docker run -p 8080:8080 -v madbus-data:/var/lib/madbus madbus
#
# Where base images cannot be pulled, `bash bench/image.sh` builds the `local` target from
# a base made with mmdebstrap and a binary built on the host.
ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY data data
COPY assets assets
COPY benches benches
RUN cargo build --profile dist --locked --bin madbus \
 && objcopy --only-keep-debug target/dist/madbus target/dist/madbus.debug \
 && objcopy --strip-all --add-gnu-debuglink=target/dist/madbus.debug target/dist/madbus

# What every variant of the image shares.
FROM ${RUNTIME_IMAGE} AS runtime-base
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /var/lib/madbus madbus \
 && mkdir -p /var/lib/madbus && chown madbus:madbus /var/lib/madbus
ENV MADBUS_BIND=0.0.0.0:8080 \
    MADBUS_DATA_DIR=/var/lib/madbus \
    RUST_LOG=info,rmcp=warn
VOLUME /var/lib/madbus
EXPOSE 8080
USER madbus
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/madbus", "probe", "http://127.0.0.1:8080/livez"]
ENTRYPOINT ["/usr/local/bin/madbus"]
CMD ["serve"]

# A binary built and stripped on the host (bench/image.sh).
FROM runtime-base AS local
COPY target/image/madbus /usr/local/bin/madbus

# The default: built above.
FROM runtime-base AS runtime
COPY --from=build /src/target/dist/madbus /usr/local/bin/madbus
