# The plugin's image, for those who build with Docker:
#   docker build --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) \
#     --build-arg REVISION=$(git rev-parse HEAD) -t ghcr.io/argo-artifact-plugin/argo-artifact-plugin:0.1.0 .
# It holds the same files as `make image` (which needs no daemon; README "The image"): the same
# static binary build, the same root filesystem cut by scripts/image/rootfs.sh from the Debian
# packages pinned in scripts/packages/runtime.lock, ENTRYPOINT, USER and labels. The Debian
# packages each stage installs come from the lists scripts/install-deps.sh reads too
# (scripts/packages/*.txt); Tests/integration/test_packages.py fails when the two drift.
# (Not built by CI: there is no Docker engine there. `make image` is built and run by `make test`.)

FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY scripts/packages scripts/packages
RUN apt-get update \
 && sed -e 's/#.*//' scripts/packages/build.txt | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
COPY Package.swift ./
COPY Sources Sources
COPY proto proto
RUN swift build -c release --product argo-artifact-plugin --static-swift-stdlib --scratch-path .build-release-static -Xswiftc -Xllvm -Xswiftc -sil-disable-pass=loop-unroll -Xcc -ffile-prefix-map=/src=. -Xswiftc -file-prefix-map -Xswiftc /src=.

FROM debian:bookworm-slim AS rootfs
WORKDIR /src
COPY scripts/packages scripts/packages
RUN apt-get update \
 && sed -e 's/#.*//' scripts/packages/rootfs.txt | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/image/rootfs.sh scripts/image/rootfs.sh
COPY --from=build /src/.build-release-static/release/argo-artifact-plugin /tmp/argo-artifact-plugin
ARG SOURCE_DATE_EPOCH=0
RUN SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH scripts/image/rootfs.sh /tmp/argo-artifact-plugin /out

FROM scratch
COPY --from=rootfs /out/rootfs/ /
ARG REVISION=unknown
LABEL org.opencontainers.image.title=argo-artifact-plugin \
      org.opencontainers.image.version=0.1.0 \
      org.opencontainers.image.revision=$REVISION \
      org.opencontainers.image.source=https://github.com/argo-artifact-plugin/argo-artifact-plugin
ENV PATH=/usr/local/bin
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/usr/local/bin/argo-artifact-plugin"]
