# streamctl - build, test and tooling.
#
#   make              build build/streamctl
#   make test         install what is missing, build with -Werror, run every test,
#                     the sanitizer run, a bounded fuzz run and the quick benchmarks
#   make check        the tests only (assumes setup was done and brokers can start)
#   make unit         Criterion unit tests only
#   make asan         build and run the unit and pipe tests under ASan/UBSan
#   make tsan         build and run the contract suite under ThreadSanitizer
#   make compare      compare the transports like for like (under an hour; REPORT section 4)
#   make demo         run the pipeline for a bounded time (TRANSPORT=pipe|kafka|amqp|mqtt)
#   make format       reformat; make format-check fails on unformatted files
#   make clean
#
# BUILD=dir selects the build directory (several builds can coexist); V=1 shows commands.

BUILD   ?= build
CC      ?= cc
PKGS     = rdkafka librabbitmq msgpack sqlite3 libmicrohttpd
# jansson is a test aid only (a reference JSON parser for the codec tests)
TEST_PKGS = jansson
WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
           -Wno-format-nonliteral -Wno-missing-field-initializers
OPT     ?= -O2 -g
SAN     ?=
# Rooms (docs/ARCHITECTURE.md): each compiles against the headers it may use,
# so an include that crosses the layering fails to build.
#   src/core    errors, the record model, the stop flag     (depends on nothing)
#   src/codec   JSON and MessagePack codecs                 (core)
#   src/domain  generators, processor, sink, verify         (core)
#   transports  the transport interface and the backends    (core)
#   src/app     CLI, roles, runtime, metrics, HTTP          (everything)
ROOMS_INC  = -Isrc/core -Isrc/codec -Isrc/domain -Isrc/app -Itransports
ROOM_INC   = $(ROOMS_INC)
$(BUILD)/src/core/%.o:   ROOM_INC = -Isrc/core
$(BUILD)/src/codec/%.o:  ROOM_INC = -Isrc/core -Isrc/codec
$(BUILD)/src/domain/%.o: ROOM_INC = -Isrc/core -Isrc/domain
$(BUILD)/transports/%.o: ROOM_INC = -Isrc/core -Itransports
CPPFLAGS += -D_GNU_SOURCE
CFLAGS  ?=
CFLAGS  += -std=c11 $(OPT) $(WARN) $(SAN) -pthread -MMD -MP
ifeq ($(WERROR),1)
CFLAGS  += -Werror
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# paho: its synchronous client with TLS (MQTTClient), the only one used
LDLIBS   = $(PKG_LIBS) -lpaho-mqtt3cs -lm -lpthread
CRITERION_LIBS = $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)
TEST_CFLAGS = $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS   = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

LIB_SRC  = $(filter-out src/app/main.c,$(wildcard src/*/*.c)) $(wildcard transports/*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ = $(BUILD)/src/app/main.o
BIN      = $(BUILD)/streamctl
LIB      = $(BUILD)/libstreamctl.a

TEST_SRC = $(wildcard tests/unit/test_*.c)
TEST_BIN = $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

FORMAT_FILES = $(wildcard src/*/*.[ch] transports/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c)

.PHONY: all setup test check unit integration asan tsan demo format format-check clean brokers-stop

all: $(BIN)

ifeq ($(V),1)
Q =
else
Q = @
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(ROOM_INC) $(PKG_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(MAIN_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST-CC $<")
	$(Q)$(CC) $(CPPFLAGS) $(ROOMS_INC) $(PKG_CFLAGS) $(TEST_CFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(LIB) $(LDLIBS) $(TEST_LIBS) $(CRITERION_LIBS)

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

# ThreadSanitizer: the contract suite and the transport tests (paho and
# librdkafka run their own threads).  The client libraries are not
# instrumented: tests/tsan.supp silences their internals only, with a reason
# per line.
TSAN_TESTS = test_contract test_transport test_metrics
# Criterion's runner cannot start under TSan (its arena is mapped where TSan
# reserves memory), so the same test sources are built against a small
# stand-in, tests/tsan/criterion/criterion.h, and run in one process.
tsan:
	@$(MAKE) --no-print-directory BUILD=build-tsan OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=thread" WERROR=1 $(TSAN_TESTS:%=build-tsan/tsan/%)
	@TSAN_OPTIONS="suppressions=$(abspath tests/tsan.supp) halt_on_error=1 exitcode=66 second_deadlock_stack=1" \
		scripts/run-unit.sh $(TSAN_TESTS:%=build-tsan/tsan/%)

$(BUILD)/tsan/%: tests/unit/%.c tests/tsan/shim_main.c tests/tsan/c11_threads.c tests/tsan/criterion/criterion.h $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TSAN-CC $<")
	$(Q)$(CC) $(CPPFLAGS) -Itests/tsan $(ROOMS_INC) $(PKG_CFLAGS) $(TEST_CFLAGS) $(CFLAGS) -Itests/unit \
		-o $@ $< tests/tsan/shim_main.c tests/tsan/c11_threads.c $(LIB) $(LDLIBS) $(TEST_LIBS)

demo: setup $(BIN)
	@STREAMCTL=$(abspath $(BIN)) scripts/demo.sh $(TRANSPORT)

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run -Werror $(FORMAT_FILES) && echo "format-check: ok"

clean:
	rm -rf build build-* 

# make print-VAR prints a variable (tests read LDLIBS from it).
print-%:
	@echo '$($*)'

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d)

# Pictures made from sources in docs/ (needs graphviz).
docs: docs/img/architecture.png docs/img/architecture-amqp.png docs/img/architecture-mqtt.png
docs/img/%.png: docs/%.dot
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
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(ROOMS_INC) $(PKG_CFLAGS) -std=c11 $(WARN) $(if $(filter 1,$(WERROR)),-Werror) \
		-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer $(FUZZ_SAN) -Itests/fuzz -o $@ $< \
		$(FUZZ_BUILD)/libstreamctl.a $(LDLIBS)

fuzz: $(FUZZ_BIN)
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_BIN)

fuzz-smoke: $(FUZZ_BIN)
	@tests/fuzz/run.sh $(FUZZ_BUILD) 0 $(FUZZ_BIN)

# ---- benchmarks (issue 8): scripts/bench/, results in bench/results/, plots in docs/img/
BENCH_BIN = $(BUILD)/bench/bench_codec $(BUILD)/bench/bench_genloop $(BUILD)/bench/bench_mqtt_rtt \
            $(BUILD)/bench/bench_mqttclient_modes

.PHONY: bench bench-quick bench-bin report report-check

bench-bin: $(BENCH_BIN)

$(BUILD)/bench/%: tests/bench/%.c tests/bench/bench_stats.h $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BENCH   $<")
	$(Q)$(CC) $(CPPFLAGS) $(ROOMS_INC) $(PKG_CFLAGS) $(CFLAGS) -Itests/bench -o $@ $< $(LIB) $(LDLIBS)

# Every CSV and plot (long: tens of minutes; run it on a quiet machine).
bench: $(BIN) bench-bin
	@STREAMCTL=$(abspath $(BIN)) BENCH_BUILD=$(abspath $(BUILD)) scripts/bench/run-all.sh full
	@scripts/bench/bottleneck-cpu-gen.sh
	@scripts/bench/bottleneck-json-encode.sh
	@scripts/bench/bottleneck-json-decode.sh
	@scripts/bench/bottleneck-msgpack-decode.sh
	@STREAMCTL=$(abspath $(BIN)) scripts/experiments/broker-failure.sh
	@$(MAKE) --no-print-directory report

# REPORT.md's generated blocks and the plots, from the committed CSVs (seconds).
report:
	@/usr/bin/python3 scripts/bench/plot.py all
	@/usr/bin/python3 scripts/report.py

# Fails if REPORT.md's generated blocks are not what the committed CSVs give.
report-check:
	@/usr/bin/python3 scripts/report.py --check

# A smoke profile with small counts (< 3 minutes), for CI.
bench-quick: $(BIN) bench-bin
	@STREAMCTL=$(abspath $(BIN)) BENCH_BUILD=$(abspath $(BUILD)) scripts/bench/run-all.sh quick

# The transports compared like for like (issue 15): latency against offered
# load, saturation, cost per record, crashes, the sensor workload and plain
# Python pipelines as the reference; CSVs in bench/results/compare*.csv,
# tables in bench/results/compare.md, figures docs/img/compare-*.png.
# `compare` takes under an hour on a quiet machine; `compare-quick` (seconds
# per cell, results in bench/results/quick) runs in make test.
.PHONY: compare compare-quick compare-render
compare: $(BIN)
	@STREAMCTL=$(abspath $(BIN)) scripts/bench/compare.sh full
compare-quick: $(BIN)
	@STREAMCTL=$(abspath $(BIN)) scripts/bench/compare.sh quick
compare-render:
	@COMPARE_RENDER_ONLY=1 scripts/bench/compare.sh full
FORMAT_FILES += $(wildcard tests/bench/*.[ch]) $(wildcard tests/tsan/*.c tests/tsan/*/*.h)
