# streamctl - build, test and tooling.
#
#   make              build build/streamctl
#   make test         install what is missing, build with -Werror, run every test,
#                     the sanitizer run, a bounded fuzz run and the quick benchmarks
#   make check        the tests only (assumes setup was done and brokers can start)
#   make unit         Criterion unit tests only
#   make asan         build and run the unit and pipe tests under ASan/UBSan
#   make demo         run the pipeline for a bounded time (TRANSPORT=pipe|kafka|amqp|mqtt)
#   make format       reformat; make format-check fails on unformatted files
#   make clean
#
# BUILD=dir selects the build directory (several builds can coexist); V=1 shows commands.

BUILD   ?= build
CC      ?= cc
PKGS     = rdkafka librabbitmq msgpack jansson sqlite3 libmicrohttpd
WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
           -Wno-format-nonliteral -Wno-missing-field-initializers
OPT     ?= -O2 -g
SAN     ?=
CPPFLAGS += -D_GNU_SOURCE -Isrc -Itransports
CFLAGS  ?=
CFLAGS  += -std=c11 $(OPT) $(WARN) $(SAN) -pthread -MMD -MP
ifeq ($(WERROR),1)
CFLAGS  += -Werror
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# paho: 3as (MQTTAsync) first - the functions both export resolve to it
# (transports/mqtt_sync.c says why that is safe); 3c for QoS 0 publishers
LDLIBS   = $(PKG_LIBS) -lpaho-mqtt3as -lpaho-mqtt3c -lm -lpthread
CRITERION_LIBS = $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)

LIB_SRC  = $(filter-out src/main.c,$(wildcard src/*.c)) $(wildcard transports/*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ = $(BUILD)/src/main.o
BIN      = $(BUILD)/streamctl
LIB      = $(BUILD)/libstreamctl.a

TEST_SRC = $(wildcard tests/unit/test_*.c)
TEST_BIN = $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

FORMAT_FILES = $(wildcard src/*.[ch] transports/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c)

.PHONY: all setup test check unit integration asan demo format format-check clean brokers-stop

all: $(BIN)

ifeq ($(V),1)
Q =
else
Q = @
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(MAIN_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST-CC $<")
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(LIB) $(LDLIBS) $(CRITERION_LIBS)

setup:
	@scripts/setup.sh

# The README's test command: sets up what is missing, then runs everything.
test: setup
	@$(MAKE) --no-print-directory WERROR=1 CHECK_SANITIZERS=1 CHECK_FUZZ_SECONDS=10 \
		CHECK_BENCH_QUICK=1 check

check: $(BIN) $(TEST_BIN)
	@STREAMCTL=$(abspath $(BIN)) CHECK_SANITIZERS=$(CHECK_SANITIZERS) \
		CHECK_FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS) CHECK_BENCH_QUICK=$(CHECK_BENCH_QUICK) \
		scripts/check.sh $(TEST_BIN)

unit: $(TEST_BIN)
	@scripts/run-unit.sh $(TEST_BIN)

integration: $(BIN)
	@STREAMCTL=$(abspath $(BIN)) scripts/run-integration.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" WERROR=1 \
		build-asan/streamctl $(TEST_SRC:tests/unit/%.c=build-asan/tests/%)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
		scripts/run-unit.sh $(TEST_SRC:tests/unit/%.c=build-asan/tests/%)
	@ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) STREAMCTL=$(abspath build-asan/streamctl) \
		scripts/run-integration.sh cli pipe metrics

demo: setup $(BIN)
	@STREAMCTL=$(abspath $(BIN)) scripts/demo.sh $(TRANSPORT)

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run -Werror $(FORMAT_FILES) && echo "format-check: ok"

clean:
	rm -rf build build-* 

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d)

# Pictures made from sources in docs/ (needs graphviz).
docs: docs/img/architecture.png
docs/img/architecture.png: docs/architecture.dot
	dot -Tpng -Gdpi=110 $< -o $@
.PHONY: docs

# The container image streamctl:latest from docker/Dockerfile (needs a Docker
# engine; without one it fails with a one-line explanation).
.PHONY: docker
docker:
	@scripts/docker-build.sh

# A compose stack in containers (scripts/docker-stack.sh): the broker(s), the
# generators, the processor (SCALE=N processors), the sink with its database
# on a volume. Starts a Docker engine if none answers; builds the images.
#   make stack TRANSPORT=kafka|amqp|mqtt [SCALE=3]   make stack-down TRANSPORT=...
.PHONY: stack stack-down docker-images
stack:
	@scripts/docker-stack.sh $(or $(TRANSPORT),kafka) up $(if $(SCALE),--scale process=$(SCALE))
stack-down:
	@scripts/docker-stack.sh $(or $(TRANSPORT),kafka) down
# Every image the stacks run, without the public registry (scripts/docker-images.sh).
docker-images:
	@scripts/docker-images.sh all

# ---- fuzzing (clang + libFuzzer; Debian: clang libclang-rt-14-dev) ---------
#   make fuzz [FUZZ_SECONDS=30]  build tests/fuzz/fuzz_*.c and run each for FUZZ_SECONDS
#   make fuzz-smoke              run each target once over its seed corpus
# The library is rebuilt with clang and the sanitizers in $(FUZZ_BUILD); the
# targets run on a copy of tests/fuzz/corpus/<target> there (crash inputs too).
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= $(BUILD)-fuzz
FUZZ_SECONDS ?= 30
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_BIN      = $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))

.PHONY: fuzz fuzz-smoke fuzz-lib

FUZZ_LIB_MAKE = $(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) \
	OPT="-O1 -g -fno-omit-frame-pointer" SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	$(FUZZ_BUILD)/libstreamctl.a

fuzz-lib:
	@$(FUZZ_LIB_MAKE) -q || $(FUZZ_LIB_MAKE)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h fuzz-lib
	@$(if $(Q),echo "  FUZZ-CC $<")
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(PKG_CFLAGS) -std=c11 $(WARN) $(if $(filter 1,$(WERROR)),-Werror) \
		-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer $(FUZZ_SAN) -Itests/fuzz -o $@ $< \
		$(FUZZ_BUILD)/libstreamctl.a $(LDLIBS)

fuzz: $(FUZZ_BIN)
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_BIN)

fuzz-smoke: $(FUZZ_BIN)
	@tests/fuzz/run.sh $(FUZZ_BUILD) 0 $(FUZZ_BIN)

# ---- benchmarks (issue 8): scripts/bench/, results in bench/results/, plots in docs/img/
BENCH_BIN = $(BUILD)/bench/bench_codec $(BUILD)/bench/bench_genloop

.PHONY: bench bench-quick bench-bin

bench-bin: $(BENCH_BIN)

$(BUILD)/bench/%: tests/bench/%.c tests/bench/bench_stats.h $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BENCH   $<")
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -Itests/bench -o $@ $< $(LIB) $(LDLIBS)

# Every CSV and plot (long: tens of minutes; run it on a quiet machine).
bench: $(BIN) bench-bin
	@STREAMCTL=$(abspath $(BIN)) BENCH_BUILD=$(abspath $(BUILD)) scripts/bench/run-all.sh full
	@scripts/bench/bottleneck-cpu-gen.sh
	@scripts/bench/bottleneck-json-encode.sh
	@scripts/bench/bottleneck-json-decode.sh
	@scripts/bench/bottleneck-msgpack-decode.sh
	@STREAMCTL=$(abspath $(BIN)) scripts/experiments/broker-failure.sh
	@/usr/bin/python3 scripts/report.py

# A smoke profile with small counts (< 3 minutes), for CI.
bench-quick: $(BIN) bench-bin
	@STREAMCTL=$(abspath $(BIN)) BENCH_BUILD=$(abspath $(BUILD)) scripts/bench/run-all.sh quick
FORMAT_FILES += $(wildcard tests/bench/*.[ch])
