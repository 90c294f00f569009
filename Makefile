# The two commands of the README: `make run` and `make test`. Everything else is for developers.
SHELL := /bin/bash
# Everything Python (pytest, oracles, doubles, benchmarks) runs from the project venv, made by
# scripts/install-deps.sh from Tests/requirements.txt; it sees no system site-packages.
VENV ?= .venv
PY := $(CURDIR)/$(VENV)/bin/python
export ARGO_PLUGIN_PYTHON := $(PY)
BIN := .build/debug/argo-artifact-plugin
RUN_DIR := $(CURDIR)/run

.PHONY: all build build-release build-release-static image image-lock deps-image run test test-large test-swift test-integration proto bench bench-rpc fixtures clean deps deps-test venv fuzz soak test-tsan

all: build

deps:
	@scripts/install-deps.sh build

deps-test:
	@scripts/install-deps.sh test

deps-image:
	@scripts/install-deps.sh image

## make venv: the project venv alone (created, or rebuilt when Tests/requirements.txt changed)
venv:
	@scripts/install-deps.sh python

# A stale build plan (left by `swift run`) makes SwiftPM compile swift-protobuf's bundled C++
# protoc (10+ minutes); dropping the plan costs a few seconds.
PLAN_GUARD = rm -f .build/debug.yaml .build/*/debug/description.json

build: deps
	@$(PLAN_GUARD)
	swift build --product argo-artifact-plugin

build-release: deps
	swift build -c release --product argo-artifact-plugin

# The binary the image holds: release, Swift's runtime linked in (--static-swift-stdlib), in a
# scratch path of its own, built so that two builds of one commit give the same bytes:
#   -sil-disable-pass=loop-unroll  Swift 6.3.1's SIL loop unroller orders block arguments by
#       pointer, so ArtifactCore's Quantities.formatSize came out in one of two instruction orders
#       (about half the clean builds each); LLVM still unrolls loops
#   -ffile-prefix-map / -file-prefix-map  source paths in C __FILE__ (Yams' asserts) and Swift
#       debug info relative to the source tree
#   IMAGE_SRC  the source tree it is built in: a copy of the checkout at one fixed path
#       (scripts/image/fixed-source.sh), since Swift also embeds the lengths of source paths in
#       some trap calls, so the checkout's own path would show in the binary
IMAGE_SRC ?= /tmp/argo-artifact-plugin-src
STATIC_SCRATCH := .build-release-static
STATIC_BIN := $(IMAGE_SRC)/$(STATIC_SCRATCH)/release/argo-artifact-plugin
build-release-static: deps
	scripts/image/fixed-source.sh $(IMAGE_SRC)
	cd $(IMAGE_SRC) && swift build -c release --product argo-artifact-plugin --static-swift-stdlib --scratch-path $(STATIC_SCRATCH) -Xswiftc -Xllvm -Xswiftc -sil-disable-pass=loop-unroll -Xcc -ffile-prefix-map=$(IMAGE_SRC)=. -Xswiftc -file-prefix-map -Xswiftc $(IMAGE_SRC)=.

## make image: the OCI image, with no daemon and no registry (scripts/image/build.sh). The last
## line printed is the archive's path: `skopeo copy oci-archive:PATH docker://REGISTRY/NAME:TAG`
image: deps-image build-release-static
	@scripts/image/build.sh $(STATIC_BIN)

## make image-lock: rewrite scripts/packages/runtime.lock (the runtime packages' exact versions)
## from the archive's current state; commit the result
image-lock: deps-image
	scripts/image/rootfs.sh --lock

## make run: the plugin on ./run/plugin.sock with the file store under ./run/data
run: build
	@mkdir -p $(RUN_DIR)/data
	@scripts/print-run-commands.sh $(RUN_DIR)
	@exec $(BIN) $(RUN_DIR)/plugin.sock

## make test: Swift unit tests and fixture replays, the image (make image), then the integration
## suite against the binary and the image (Tests/integration/test_image.py runs it under runc)
test: deps-test build
	$(PY) scripts/check-imports.py
	swift build --build-tests
	swift test --skip-build
	$(MAKE) --no-print-directory image
	$(PY) -m pytest -q Tests/integration
	scripts/fuzz.sh $(FUZZ_CI_SECONDS)
	$(MAKE) --no-print-directory test-tsan

# Each fuzz target runs this long in `make test` (CI); `make fuzz` runs them longer.
FUZZ_CI_SECONDS ?= 30
FUZZ_SECONDS ?= 600

## make test-tsan: the Swift tests and the concurrent parts of the integration suite against a
## -sanitize=thread build (.build-tsan); any ThreadSanitizer report fails the run
TSAN_INTEGRATION ?= test_grpc_server.py test_json_gateway.py test_s3_store.py test_transfer_engine.py test_fault_soak.py test_gc_policy.py
test-tsan: deps-test
	swift build --build-tests --sanitize thread --scratch-path .build-tsan
	TSAN_OPTIONS="halt_on_error=1" swift test --skip-build --sanitize thread --scratch-path .build-tsan
	cd Tests/integration && PLUGIN_BIN=$(CURDIR)/.build-tsan/debug/argo-artifact-plugin TSAN_OPTIONS="halt_on_error=1" \
	  ARGO_PLUGIN_FAULT_SOAK_TRANSFERS=60 $(PY) -m pytest -q $(TSAN_INTEGRATION)

## make soak (opt-in): 30 minutes of transfers through a failing store, RSS and descriptors sampled
soak: deps-test build
	$(PY) scripts/soak.py --minutes $(SOAK_MINUTES) $(if $(SOAK_MEMORY),--memory-limit $(SOAK_MEMORY))

SOAK_MINUTES ?= 30
# SOAK_MEMORY=128: the plugin runs in a cgroup with that many MiB (as a sidecar with Argo's limits)
SOAK_MEMORY ?=

## make fuzz (opt-in): every fuzz target for FUZZ_SECONDS under libFuzzer + ASan (scripts/fuzz.sh)
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

## make test-large (opt-in): a 6 GiB object to RGW on bluestore and back (needs ~8 GiB of disk)
test-large: deps-test build
	OSD_STORE=bluestore ARGO_PLUGIN_LARGE=1 $(PY) -m pytest -q -s Tests/integration/test_large.py

test-swift: venv build
	swift build --build-tests
	swift test --skip-build

test-integration: venv build
	$(PY) -m pytest -q Tests/integration

## make proto: regenerate Sources/ArtifactProto from proto/artifact.proto (output is committed)
proto:
	swift build -c release --product protoc-gen-swift --scratch-path .build-protoc
	protoc --plugin=protoc-gen-swift=.build-protoc/release/protoc-gen-swift \
	  --swift_out=Sources/ArtifactProto --swift_opt=Visibility=Public -I proto proto/artifact.proto

## make fixtures: re-record Tests/Fixtures from a real grpcio client session
fixtures: venv build
	$(PY) scripts/record-fixtures.py

## make bench: every section, each contender in BENCH_ENVELOPE (default cpu=0.5,mem=512; none: unconstrained)
bench: deps-test build-release
	$(PY) scripts/bench all

bench-rpc: deps-test build-release
	$(PY) scripts/bench rpc

clean:
	rm -rf .build .build-fuzz .build-tsan $(STATIC_SCRATCH) $(IMAGE_SRC) build run Tests/integration/gen $(VENV)
