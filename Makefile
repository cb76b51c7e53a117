# Starling build. `make` builds everything into build/; `make test` runs every
# test and ends with one line "N passed, N failed"; `make deps` installs what
# pkg-config cannot find. SANITIZE=1 builds with AddressSanitizer and UBSan
# into build-san/ so that both builds can live side by side.

CC ?= cc
PKGS := libsodium msgpack libuv jansson
TEST_PKGS := cmocka
DEB_PKGS := libsodium-dev libmsgpack-dev libuv1-dev libcmocka-dev libjansson-dev pkg-config python3

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
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SAN_FLAGS) -Iinclude -MMD -MP \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LDFLAGS_ALL = $(SAN_FLAGS) $(LDFLAGS)
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
TEST_LIBS = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

GOSSIP_SRC := $(wildcard gossip/*.c)
PLACEMENT_SRC := $(wildcard placement/*.c)
SIMLIB_SRC := $(filter-out sim/main.c,$(wildcard sim/*.c))
NODE_SRC := $(wildcard node/*.c)
NODELIB_SRC := $(filter-out node/main.c,$(NODE_SRC))
SVC_SRC := $(wildcard tests/svc/*.c)
SVC_BINS := $(patsubst tests/svc/%.c,$(BUILD)/svc/%,$(SVC_SRC))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
TESTLIB_SRC := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))

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

.PHONY: all build deps test bench demo fuzz clean format check-sansio

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

$(STARLING): $(call obj,node/main.c) $(NODE_LIB) $(PLACEMENT_LIB) $(GOSSIP_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(STARLING_SIM): $(call obj,sim/main.c) $(SIM_LIB) $(PLACEMENT_LIB) $(GOSSIP_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(call obj,$(TESTLIB_SRC)) $(SIM_LIB) $(NODE_LIB) $(PLACEMENT_LIB) $(GOSSIP_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(TEST_LIBS) $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(SIM_LIB) $(PLACEMENT_LIB) $(GOSSIP_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

# Small programs the tests run as replicas (tests/svc/*.c).
$(BUILD)/svc/%: $(BUILD)/obj/tests/svc/%.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

test: all
	@$(MAKE) --no-print-directory check-sansio
	@BUILD=$(BUILD) bash tests/run.sh

bench: all
	@BUILD=$(BUILD) bash tests/bench.sh

demo: all
	@BUILD=$(BUILD) bash tests/demo.sh

# Fuzzes every decoder of gossip/, and node/'s framing and RPC payloads
# (tests/fuzz/fuzz_decoders.c), with clang's
# libFuzzer, ASan and UBSan for FUZZ_SECONDS (default 60). The corpus stays
# in build-fuzz/corpus between runs; crashes are written to build-fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_DIR := build-fuzz
fuzz: deps
	@command -v clang >/dev/null || { echo "make fuzz: needs clang (Debian package clang)" >&2; exit 1; }
	@mkdir -p $(FUZZ_DIR)/corpus
	clang -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) -Iinclude \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  $$(pkg-config --cflags msgpack jansson) \
	  -o $(FUZZ_DIR)/fuzz_decoders tests/fuzz/fuzz_decoders.c $(GOSSIP_SRC) node/frame.c \
	  node/mpjson.c $$(pkg-config --libs libsodium msgpack jansson) -lm
	cd $(FUZZ_DIR) && FUZZ_SEEDS=corpus ./fuzz_decoders -max_total_time=$(FUZZ_SECONDS) \
	  -max_len=4096 -print_final_stats=1 corpus

# The core must stay sans-IO: no clocks, sockets, files, threads, libuv or
# global randomness in gossip/ or placement/.
check-sansio:
	@! grep -rnE '#include *[<"](uv|sys/socket|pthread|time)\.h[>"]|\b(clock_gettime|gettimeofday|time|rand|srand|random|randombytes_[a-z_]+|getrandom|socket|sendto|recvfrom|fopen|open|pthread_[a-z_]+|sleep|usleep)\s*\(' gossip placement \
	  || { echo "check-sansio: I/O found in the sans-IO core" >&2; exit 1; }

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
