# Sterlet — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NODE     := node_modules/.bin/node
ARCH_INC := /usr/include/$(shell gcc -dumpmachine)
LIBBPF   := build/libbpf/.version
BPF_SRC  := $(wildcard bpf/*.bpf.c)
BPF_OBJ  := $(patsubst bpf/%.bpf.c,build/bpf/%.bpf.o,$(BPF_SRC))
BPF_HDR  := $(wildcard bpf/include/*.h)
BENCH_OBJ := $(patsubst bpf/bench/%.bpf.c,build/bpf/bench/%.bpf.o,$(wildcard bpf/bench/*.bpf.c))
BPF_CFLAGS := -O2 -g -target bpf -mcpu=v3 -Wall -Werror -Wno-unused-function
CLANG_BPF := clang $(BPF_CFLAGS) -I bpf/include -I build/libbpf/include -I $(ARCH_INC)
# The fuzz suite's reference build: bpf/ of this commit (test/bpf/fuzz/base-rev), same flags.
FUZZ_BASE_REV := $(shell cat test/bpf/fuzz/base-rev)
FUZZ_BASE := build/bpf/rev/$(FUZZ_BASE_REV)

##@ Setup
.PHONY: help setup
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*##/ {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2} /^##@/ {printf "\n%s\n", substr($$0, 5)}' $(MAKEFILE_LIST)

setup: ## Install system packages, mount bpffs, npm ci (idempotent).
	@scripts/setup.sh

##@ Build
.PHONY: libbpf bpf build typecheck manifests verify-manifests
libbpf: $(LIBBPF) ## Build the pinned libbpf release into build/libbpf.
$(LIBBPF): scripts/libbpf.sh
	@scripts/libbpf.sh

bpf: $(BPF_OBJ) $(BENCH_OBJ) ## Compile the XDP programs in bpf/ into build/bpf.
build/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDR) $(LIBBPF)
	@mkdir -p build/bpf
	$(CLANG_BPF) -c $< -o $@
build/bpf/bench/%.bpf.o: bpf/bench/%.bpf.c bpf/balancer.bpf.c $(BPF_HDR) $(LIBBPF)
	@mkdir -p build/bpf/bench
	$(CLANG_BPF) -c $< -o $@

# This tree's bench object without the flow cache (BENCH_COMPARE: what the cache costs or buys per class).
build/bpf/bench/no-flow-cache.bpf.o: bpf/bench/bench.bpf.c bpf/balancer.bpf.c $(BPF_HDR) $(LIBBPF)
	@mkdir -p build/bpf/bench
	$(CLANG_BPF) -DFLOW_CACHE_SLOTS=0 -c $< -o $@

# bpf/ of another commit (git archive), compiled with this Makefile's flags and libbpf headers.
build/bpf/rev/%/balancer.bpf.o build/bpf/rev/%/decap.bpf.o: $(LIBBPF)
	@rm -rf build/bpf/rev/$*/src && mkdir -p build/bpf/rev/$*/src
	@git archive $* bpf | tar -x -C build/bpf/rev/$*/src
	clang $(BPF_CFLAGS) -I build/bpf/rev/$*/src/bpf/include -I build/libbpf/include -I $(ARCH_INC) \
		-c build/bpf/rev/$*/src/bpf/balancer.bpf.c -o build/bpf/rev/$*/balancer.bpf.o
	clang $(BPF_CFLAGS) -I build/bpf/rev/$*/src/bpf/include -I build/libbpf/include -I $(ARCH_INC) \
		-c build/bpf/rev/$*/src/bpf/decap.bpf.c -o build/bpf/rev/$*/decap.bpf.o
	@rm -rf build/bpf/rev/$*/src

# The bench object of another commit, to compare builds in one run (BENCH_COMPARE, bench/dataplane.ts).
build/bpf/rev/%/bench.bpf.o: $(LIBBPF)
	@rm -rf build/bpf/rev/$*/bench-src && mkdir -p build/bpf/rev/$*/bench-src
	@git archive $* bpf | tar -x -C build/bpf/rev/$*/bench-src
	clang $(BPF_CFLAGS) -I build/bpf/rev/$*/bench-src/bpf/include -I build/libbpf/include -I $(ARCH_INC) \
		-c build/bpf/rev/$*/bench-src/bpf/bench/bench.bpf.c -o $@
	@rm -rf build/bpf/rev/$*/bench-src

.PHONY: fuzz-base
fuzz-base: $(FUZZ_BASE)/balancer.bpf.o ## Build the fuzz suite's reference objects (bpf/ at test/bpf/fuzz/base-rev) into build/bpf/rev/.

manifests: ## Regenerate crds/*.yaml and crds/README.md (API reference) from the zod schemas in src/api.
	@$(NODE) scripts/gen-crds.ts crds
	@$(NODE) scripts/chart-crds.ts

verify-manifests: ## Fail if crds/ differs from what src/api generates.
	@$(NODE) scripts/gen-crds.ts --check crds
	@$(NODE) scripts/chart-crds.ts --check

# Small objects the libbpf adapter tests load (test/bpf/progs, not the dataplane).
build/test/%.bpf.o: test/bpf/progs/%.bpf.c $(LIBBPF)
	@mkdir -p build/test
	$(CLANG_BPF) -c $< -o $@

typecheck: ## Type-check all TypeScript.
	@$(NODE) node_modules/.bin/tsc -p tsconfig.json

build: setup libbpf bpf typecheck ## Everything the agent and tests need.

PREFIX ?= /usr/local
.PHONY: install uninstall
install: ## Link bin/sterlet (this checkout, its pinned Node 24) as PREFIX/bin/sterlet (PREFIX=/usr/local).
	@ln -sfn "$(CURDIR)/bin/sterlet" "$(PREFIX)/bin/sterlet" && echo "installed $(PREFIX)/bin/sterlet -> $(CURDIR)/bin/sterlet"

uninstall: ## Remove the PREFIX/bin/sterlet link that `make install` made.
	@if [[ "$$(readlink "$(PREFIX)/bin/sterlet" 2>/dev/null)" == "$(CURDIR)/bin/sterlet" ]]; then rm -f "$(PREFIX)/bin/sterlet"; fi

##@ Demo
.PHONY: demo
demo: build ## The whole system locally: the standalone agent first (the Kubernetes binaries build meanwhile on a first run), then apiserver, controller, agent (XDP), 3 backends, 100 requests each. DEMO_ARGS=--keep leaves it running.
	@$(NODE) scripts/demo.ts $(DEMO_ARGS)

##@ Test
.PHONY: test test-unit test-bpf test-e2e
test: build fuzz-base testbin gobgp ## Run every test suite (unit, BPF fixtures, e2e, Kubernetes, Helm); ends with "N passed, N failed, N skipped".
	@rm -f build/test-results.json; status=0; npm test --silent || status=$$?; \
	if [[ -f build/test-results.json ]]; then $(NODE) scripts/test-summary.ts build/test-results.json || status=1; \
	else echo "no test report was written: the run stopped before its tests (the first error above says why)" >&2; ((status)) || status=1; fi; \
	exit $$status

test-unit: setup ## Pure-logic unit tests only.
	@npm run --silent test:unit

test-bpf: setup libbpf bpf fuzz-base ## BPF_PROG_TEST_RUN fixture suite only (incl. the seeded differential fuzz run).
	@npm run --silent test:bpf

test-e2e: setup libbpf bpf gobgp ## Network-namespace end-to-end tests (real TCP through the XDP balancer).
	@npm run --silent test:e2e

.PHONY: test-tenancy
test-tenancy: setup libbpf bpf testbin ## Pools, tenant bounds, GitOps example, Argo CD health check (real API server, controller, agent).
	@npm exec --silent -- vitest run --project k8s test/tenancy/

##@ Local Kubernetes
.PHONY: testbin gobgp cluster-up cluster-down
gobgp: ## Build and cache the pinned gobgpd/gobgp and their .proto files (~/.cache/sterlet/gobgp), for BGP announcement.
	@scripts/gobgp.sh

testbin: ## Build and cache kube-apiserver, kube-controller-manager, kubectl, etcd, helm (~/.cache/sterlet/testbin).
	@scripts/testbin.sh

cluster-up: testbin ## Start etcd + kube-apiserver on loopback; admin kubeconfig in build/kubeconfig.
	@scripts/cluster.sh up

cluster-down: ## Stop the local control plane and delete its state (build/cluster).
	@scripts/cluster.sh down

.PHONY: fuzz
fuzz: setup libbpf bpf fuzz-base ## Long differential fuzz run: FUZZ_FRAMES (1000000) frames from FUZZ_SEED (random) vs the reference build.
	@STERLET_FUZZ_FRAMES=$${FUZZ_FRAMES:-1000000} STERLET_FUZZ_SEED=$${FUZZ_SEED:-$$RANDOM$$RANDOM} \
		npm exec --silent -- vitest run --project bpf test/bpf/fuzz.test.ts

##@ Benchmarks
.PHONY: bench-dataplane
bench-dataplane: setup libbpf bpf ## ns/packet of the XDP balancer per packet class.
	@npm run --silent bench:dataplane

# The AF_PACKET packet generator of bench-pps (host tool, not BPF).
# pktgen links libbpf statically for --xdp (xdpgen.c drives gen.bpf.o).
build/bench/pktgen: bench/pktgen/pktgen.c bench/pktgen/xdpgen.c bench/pktgen/xdpgen.h bench/pktgen/gen.h $(LIBBPF)
	@mkdir -p build/bench
	$(CC) -O2 -Wall -Wextra -Werror -I build/libbpf/include -o $@ bench/pktgen/pktgen.c bench/pktgen/xdpgen.c \
		build/libbpf/lib/libbpf.a -lelf -lz
build/bench/gen.bpf.o: bench/pktgen/gen.bpf.c bench/pktgen/gen.h $(LIBBPF)
	@mkdir -p build/bench
	$(CLANG_BPF) -c $< -o $@

.PHONY: bench-pps
bench-pps: setup libbpf bpf build/bench/pktgen build/bench/gen.bpf.o ## Mpps + CPU per forwarded packet, real packets over veth: Sterlet vs kube-proxy-style nftables DNAT vs kernel forwarding; then 50 real TCP connections under a SYN flood.
	@$(NODE) bench/pps.ts

.PHONY: bench-maglev
bench-maglev: setup ## Maglev ring build ms (65537 slots x 10..4096 backends) and disruption.
	@npm run --silent bench:maglev

.PHONY: bench-services
bench-services: setup ## Service address allocation and EndpointSlice -> node backend mapping, µs per reconcile.
	@npm run --silent bench:services

.PHONY: bench-flows
bench-flows: setup libbpf ## Flows per backend: one count over 2 x 1M connection-table entries (CPU ms, event-loop hold).
	@npm run --silent bench:flows

.PHONY: bench-k8s
bench-k8s: setup libbpf bpf ## kubectl apply -> status.compiled -> maps programmed (real agent): initial sync + p50/p99.
	@scripts/cluster.sh up
	@npm run --silent bench:k8s -- --agent

.PHONY: bench-k8s-services
bench-k8s-services: setup libbpf bpf ## EndpointSlice write -> status.compiled -> maps programmed at 1,000 Service VIPs (real agent): p50/p99.
	@scripts/cluster.sh up
	@npm run --silent bench:k8s-services -- --agent

##@ Cleanup
.PHONY: clean
clean: ## Remove build outputs (keeps the cache in ~/.cache/sterlet).
	rm -rf build dist
