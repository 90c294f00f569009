# Image for the sidecar. (Not built by CI here: this machine has no Docker engine.)
FROM swift:6.3-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libnghttp2-dev libcurl4-openssl-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources Sources
COPY proto proto
RUN swift build -c release --product argo-artifact-plugin --static-swift-stdlib

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libcurl4 libnghttp2-14 libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/.build/release/argo-artifact-plugin /usr/local/bin/argo-artifact-plugin
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/argo-artifact-plugin"]
