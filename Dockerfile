# Build stage: the whole toolchain, cached dependencies.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
COPY migrations ./migrations
COPY assets ./assets
COPY config ./config
RUN cargo build --release --locked --bin frontdesk

# Runtime: a small image, no compiler, a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /app frontdesk
WORKDIR /app
COPY --from=build /src/target/release/frontdesk /usr/local/bin/frontdesk
COPY config ./config
RUN mkdir -p /app/data && chown frontdesk /app/data
USER frontdesk
ENV PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["frontdesk", "healthcheck"]
ENTRYPOINT ["frontdesk"]
CMD ["serve"]
