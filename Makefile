# Thin wrapper over meson. The README's two commands:
#   make demo    run the demo conversation on embedded defaults
#   make check   run every test suite (plain, then ASan+UBSan, then valgrind)
# Both install missing Debian packages first (scripts/install-deps.sh).

BUILD      ?= build
BUILD_ASAN ?= build-asan
MESON_OPTS ?= -Dwerror=true

.PHONY: all deps build demo check check-quick clean fuzz abi-baseline

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	$(BUILD)/examples/wabot-demo $(BUILD)/examples/wabot-server

check: build
	sh scripts/check.sh $(BUILD) $(BUILD_ASAN)

# Only the plain build's suites (no sanitizer or valgrind passes).
check-quick: build
	sh scripts/check.sh --quick $(BUILD)

# Regenerate the committed ABI baseline (tests/abi/libwabot.abi). Do this
# deliberately, in its own commit, saying what changed (doc/abi.md).
abi-baseline: build
	sh tests/abi/update-baseline.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
