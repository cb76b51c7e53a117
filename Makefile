# Starling build. `make` builds everything into build/; `make test` runs every
# test and ends with one line "N passed, N failed"; `make deps` installs what
# pkg-config cannot find. SANITIZE=1 builds with AddressSanitizer and UBSan
# into build-san/ so that both builds can live side by side.

CC ?= cc
PKGS := libsodium msgpack libuv jansson
TEST_PKGS := cmocka
DEB_PKGS := libsodium-dev libmsgpack-dev libuv1-dev libcmocka-dev libjansson-dev libhttp-parser-dev \
            pkg-config python3
# Debian's libhttp-parser-dev ships no pkg-config file: it is found by its
# header (deps installs it when the header is missing) and linked by name.
HTTP_PARSER_H := /usr/include/http_parser.h

ifeq ($(SANITIZE),1)
BUILD ?= build-san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT ?= -O1 -g
else
BUILD ?= build
SAN_FLAGS :=
OPT ?= -O2 -g
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SAN_FLAGS) -Iinclude -Inode -MMD -MP \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LDFLAGS_ALL = $(SAN_FLAGS) $(LDFLAGS)
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lm
TEST_LIBS = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

GOSSIP_SRC := $(wildcard gossip/*.c)
PLACEMENT_SRC := $(wildcard placement/*.c)
SIMLIB_SRC := $(filter-out sim/main.c,$(wildcard sim/*.c))
NODE_SRC := $(wildcard node/*.c node/*/*.c)
NODELIB_SRC := $(filter-out node/main.c,$(NODE_SRC))
SVC_SRC := $(wildcard tests/svc/*.c)
SVC_BINS := $(patsubst tests/svc/%.c,$(BUILD)/svc/%,$(SVC_SRC))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
TESTLIB_SRC := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
# Helpers shared by the unit tests and the benchmarks (random clusters).
TESTCOMMON_LIB := $(BUILD)/libstarling_testcommon.a

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

GOSSIP_LIB := $(BUILD)/libstarling_gossip.a
PLACEMENT_LIB := $(BUILD)/libstarling_placement.a
SIM_LIB := $(BUILD)/libstarling_sim.a
NODE_LIB := $(BUILD)/libstarling_node.a
STARLING := $(BUILD)/starling
STARLING_SIM := $(BUILD)/starling-sim
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all build deps test bench bench-deps demo fuzz fuzz-build fuzz-seeds clean format check-sansio

# Keep the object files of tests and benchmarks between runs.
.SECONDARY:

# Every entry point installs what is missing first, then re-enters make so
# that pkg-config's answers are read after the install.
all: deps
	@$(MAKE) --no-print-directory build

build: $(STARLING) $(STARLING_SIM) $(UNIT_BINS) $(BENCH_BINS) $(SVC_BINS)

# Installs the Debian packages that pkg-config cannot find. Quiet when all is there.
deps:
	@missing=""; \
	for p in $(PKGS) $(TEST_PKGS); do pkg-config --exists $$p 2>/dev/null || missing=1; done; \
	command -v pkg-config >/dev/null 2>&1 || missing=1; \
	command -v python3 >/dev/null 2>&1 || missing=1; \
	[ -f $(HTTP_PARSER_H) ] || missing=1; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing $(DEB_PKGS)"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(DEB_PKGS) >/dev/null || \
	    { echo "make deps: apt-get failed; install $(DEB_PKGS) by hand" >&2; exit 1; }; \
	fi

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(GOSSIP_LIB): $(call obj,$(GOSSIP_SRC))
	@rm -f $@; ar rcs $@ $^
$(PLACEMENT_LIB): $(call obj,$(PLACEMENT_SRC))
	@rm -f $@; ar rcs $@ $^
$(SIM_LIB): $(call obj,$(SIMLIB_SRC))
	@rm -f $@; ar rcs $@ $^
$(NODE_LIB): $(call obj,$(NODELIB_SRC))
	@rm -f $@; ar rcs $@ $^
$(TESTCOMMON_LIB): $(call obj,$(wildcard tests/common/*.c))
	@rm -f $@; ar rcs $@ $^

$(STARLING): $(call obj,node/main.c) $(NODE_LIB) $(PLACEMENT_LIB) $(GOSSIP_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(STARLING_SIM): $(call obj,sim/main.c) $(SIM_LIB) $(PLACEMENT_LIB) $(GOSSIP_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(call obj,$(TESTLIB_SRC)) $(TESTCOMMON_LIB) $(SIM_LIB) $(NODE_LIB) $(PLACEMENT_LIB) $(GOSSIP_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(TEST_LIBS) $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(TESTCOMMON_LIB) $(SIM_LIB) $(PLACEMENT_LIB) $(GOSSIP_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

# Small programs the tests run as replicas (tests/svc/*.c).
$(BUILD)/svc/%: $(BUILD)/obj/tests/svc/%.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

test: all
	@$(MAKE) --no-print-directory check-sansio
	@BUILD=$(BUILD) bash tests/run.sh

bench: all bench-deps
	@BUILD=$(BUILD) bash tests/bench.sh

# What the benchmarks compare with or draw with, installed when missing like
# the build's packages: serf (Debian package), the baseline of
# tests/bench/bench_agents.sh, and gnuplot for the placement plot
# (tests/bench/bench_placement.sh). Without them (apt-get failed) the bench
# still runs, with Starling's figures only and without the plot.

bench-deps:
	@missing=; command -v serf >/dev/null 2>&1 || missing="$$missing serf"; \
	command -v gnuplot >/dev/null 2>&1 || missing="$$missing gnuplot-nox"; \
	if [ -n "$$missing" ]; then \
	  echo "make bench-deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; } || \
	    echo "make bench-deps: apt-get failed; the bench runs without$$missing" >&2; \
	fi

demo: all
	@BUILD=$(BUILD) bash tests/demo.sh

# Fuzzes, with clang's libFuzzer, ASan and UBSan, every decoder of gossip/
# and node/'s framing and RPC payloads (tests/fuzz/fuzz_decoders.c), sealed
# datagrams and push-pull states (fuzz_sealed.c), signed catalog records
# (fuzz_signed.c) and the simulator's scenario parser (fuzz_scenario.c):
# each target for FUZZ_SECONDS (default 60), one after another
# (tests/fuzz/run.sh; FUZZ_TARGETS picks some). Each starts from the seeds in
# tests/fuzz/corpus/TARGET, copied into build-fuzz/corpus/TARGET, which keeps
# what it finds between runs; crashing inputs go to build-fuzz/crashes/.
# `make fuzz-seeds` rewrites the checked-in seeds from the targets' own.
FUZZ_SECONDS ?= 60
FUZZ_DIR := build-fuzz
FUZZ_TARGETS ?= decoders sealed signed scenario
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) -Iinclude -Inode -MMD -MP $(FUZZ_SAN) \
              -fsanitize=fuzzer-no-link $(shell pkg-config --cflags libsodium msgpack jansson 2>/dev/null)
FUZZ_LIB_SRC := $(GOSSIP_SRC) node/rpc/frame.c node/rpc/mpjson.c sim/scenario.c tests/fuzz/fuzz_common.c
FUZZ_BINS = $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))
fuzzobj = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(1))

fuzz: deps
	@command -v clang >/dev/null || { echo "make fuzz: needs clang (Debian package clang)" >&2; exit 1; }
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGETS="$(FUZZ_TARGETS)" bash tests/fuzz/run.sh

fuzz-build: $(FUZZ_BINS)

fuzz-seeds: deps
	@$(MAKE) --no-print-directory fuzz-build
	@for t in $(FUZZ_TARGETS); do mkdir -p tests/fuzz/corpus/$$t && \
	  FUZZ_SEEDS=tests/fuzz/corpus/$$t $(FUZZ_DIR)/fuzz_$$t -runs=0 >/dev/null 2>&1 && \
	  echo "fuzz-seeds: $$t: $$(ls tests/fuzz/corpus/$$t | wc -l) seeds" || exit 1; done

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(call fuzzobj,$(FUZZ_LIB_SRC))
	clang $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $$(pkg-config --libs libsodium msgpack jansson) -lm

# The core must stay sans-IO: gossip/ and placement/ may call only libc's
# memory and string functions, libm, msgpack-c and libsodium's crypto. The
# guard reads what the built archives leave undefined (nm -u) and refuses
# anything else (tests/check_sansio.sh has the list).
check-sansio: $(GOSSIP_LIB) $(PLACEMENT_LIB)
	@BUILD=$(BUILD) bash tests/check_sansio.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD)/obj $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
