# Thin wrapper over meson. The README's two commands:
#   make demo    run the demo conversation on embedded defaults
#   make check   run every test suite (plain, the release tarball's quick
#                distcheck, then ASan+UBSan, then valgrind)
# Both install missing Debian packages first (scripts/install-deps.sh).

BUILD      ?= build
BUILD_ASAN ?= build-asan
MESON_OPTS ?= -Dwerror=true

.PHONY: all deps build demo check check-quick clean fuzz abi-baseline bench-e2e \
        dist distcheck

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/build.ninja:
	@meson setup $(BUILD) $(MESON_OPTS) > /dev/null || meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Builds only the two programs it runs, quietly (a failed build still
# prints ninja's output), then shows the conversation.
demo: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD) examples/wabot-server examples/wabot-demo \
	  > $(BUILD)/demo-build.log 2>&1 || { cat $(BUILD)/demo-build.log; exit 1; }
	@$(BUILD)/examples/wabot-demo $(BUILD)/examples/wabot-server

check: build
	sh scripts/check.sh $(BUILD) $(BUILD_ASAN)

# End-to-end benchmark (doc/performance.md): wabot-server + fake Twilio +
# wrk, memory and Redis (and the NestJS peer when built). Not in check.
bench-e2e: build
	sh tests/bench/e2e.sh $(E2E_MODES)

# Only the plain build's suites (no sanitizer or valgrind passes).
check-quick: build
	sh scripts/check.sh --quick $(BUILD)

# libFuzzer: build the targets with clang in $(FUZZ_BUILD) and run each for
# FUZZ_SECONDS (default 600), one after the other, starting from the
# committed corpus (tests/fuzz/corpus/<name>, replayed by `make check`);
# new inputs go to $(FUZZ_BUILD)/corpus/<name>. Prints each target's exec
# count; fails on the first crash (the reproducer is left in $(FUZZ_BUILD)).
#   make fuzz FUZZ_SECONDS=60 FUZZ_TARGETS="status signature"
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= twilio meta status signature routes template commerce admin \
                outbound

fuzz: deps
	@test -f $(FUZZ_BUILD)/build.ninja || \
	  CC=clang CXX=clang++ meson setup $(FUZZ_BUILD) -Dfuzz=true \
	    -Db_lundef=false -Dexamples=false
	@set -e; for t in $(FUZZ_TARGETS); do \
	  case $$t in \
	    twilio) bin=fuzz_twilio_form ;; meta) bin=fuzz_meta_webhook ;; \
	    status) bin=fuzz_status_callback ;; signature) bin=fuzz_signature ;; \
	    routes) bin=fuzz_http_routes ;; template) bin=fuzz_template ;; \
	    commerce) bin=fuzz_commerce ;; admin) bin=fuzz_admin ;; \
	    outbound) bin=fuzz_outbound_payload ;; \
	    *) echo "fuzz: unknown target $$t"; exit 2 ;; \
	  esac; \
	  ninja -C $(FUZZ_BUILD) tests/fuzz/$$bin >/dev/null; \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  log=$(FUZZ_BUILD)/fuzz-$$t.log; \
	  echo "fuzz: $$bin for $(FUZZ_SECONDS) s (log: $$log)"; \
	  if ! (cd $(FUZZ_BUILD) && ./tests/fuzz/$$bin \
	        -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -dict=$(CURDIR)/tests/fuzz/corpus/$$t.dict \
	        corpus/$$t $(CURDIR)/tests/fuzz/corpus/$$t) >$$log 2>&1; then \
	    tail -40 $$log; echo "fuzz: $$bin FAILED"; exit 1; \
	  fi; \
	  execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log); \
	  echo "fuzz: $$bin: $$execs execs in $(FUZZ_SECONDS) s, no crash"; \
	done

# Release tarball of the committed tree (HEAD; meson dist refuses a tree
# with uncommitted changes): $(BUILD)/meson-dist/libwabot-<version>.tar.xz
# and its .sha256sum. distcheck unpacks it, configures, builds everything
# and runs the unit suite (scripts/distcheck.sh).
# `make check` (so CI) runs the quick form after the plain suites, on the
# last commit even in a dirty tree: every source file the build compiled
# is in the tarball, the tarball configures with every option on, and the
# library and unit suite build from it (-O0) and pass: about 100 CPU
# seconds (2026-12-06; 255 s of wall time on the shared 2-core machine
# at load 16).
dist: build
	meson dist -C $(BUILD) --no-tests --formats xztar

distcheck: dist
	sh scripts/distcheck.sh $(BUILD)/meson-dist/libwabot-$$(meson introspect \
	  $(BUILD) --projectinfo | python3 -c \
	  'import json,sys; print(json.load(sys.stdin)["version"])').tar.xz

# Regenerate the committed ABI baseline (tests/abi/libwabot.abi). Do this
# deliberately, in its own commit, saying what changed (doc/abi.md).
abi-baseline: build
	sh tests/abi/update-baseline.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
