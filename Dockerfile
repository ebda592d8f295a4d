# smallpay's image: a static musl binary in an otherwise empty image, run as a non-root user.
#
#   docker build -t smallpay .                  # builds the binary in the `build` stage
#   docker run -p 8080:8080 -e SMALLPAY_JWT_SECRET=… -e SMALLPAY_SEAL_KEY=… -v smallpay:/data smallpay
#
# The runtime stage takes the binary from the stage BINARY_STAGE names: `build` (the default:
# compiled here, needs the rust base image) or `prebuilt` (a binary built beforehand, from the
# build context: `smallpay` and an empty `data/` directory) — which is how scripts/image-test.sh
# builds and runs the runtime stage where no base image can be pulled.
# docs/operations.md ("Deployment") says what was tested how.
ARG BINARY_STAGE=build

FROM docker.io/library/rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl -p smallpay --bin smallpay \
    && mkdir -p /out/data \
    && cp target/x86_64-unknown-linux-musl/release/smallpay /out/smallpay

FROM scratch AS prebuilt
COPY smallpay /out/smallpay
COPY data /out/data

FROM ${BINARY_STAGE} AS binary

FROM scratch AS runtime
COPY --from=binary /out/smallpay /smallpay
# The SQLite volume: owned by the service's user, the working directory, so the default
# DATABASE_URL (sqlite://smallpay.db?mode=rwc) is /data/smallpay.db.
COPY --from=binary --chown=10001:10001 /out/data /data
USER 10001:10001
WORKDIR /data
VOLUME /data
# Production by default: the image refuses to start without SMALLPAY_JWT_SECRET (or a public
# key / JWKS) and SMALLPAY_SEAL_KEY. A container listens on every address of its own network.
ENV SMALLPAY_ENV=production \
    SMALLPAY_BIND=0.0.0.0:8080 \
    SMALLPAY_LOG_FORMAT=json
EXPOSE 8080
# No shell, no curl: the binary asks itself (`smallpay healthcheck`, /healthz on SMALLPAY_BIND).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/smallpay", "healthcheck"]
ENTRYPOINT ["/smallpay"]
CMD ["serve"]
