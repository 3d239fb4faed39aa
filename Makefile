# evt - one hand-written Makefile (see ../shared/STYLE.md 12).
#
#   make                 build bin/PROGRAM for each program
#   make check           -Werror build, mandoc lint, the whole test suite
#   make test            the test suite (bats)
#   make SANITIZE=1 ...  the same with ASan+UBSan (objects in build-san/)
#   make demo            the main job: a store's sagas on a SQLite log
#   make bench           throughput against jq, sqlite3 and Python
#   make soak            the saga properties over thousands of seeds
#   make golden          regenerate testdata expectations (review the diff!)
#   make install PREFIX=/usr/local DESTDIR=

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
CC      ?= cc
PKG_CONFIG ?= pkg-config

VERSION = 0.1.0
CSTD    = -std=c11 -D_GNU_SOURCE
WARN    = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wno-unused-parameter
OPT     ?= -O2 -g
ifeq ($(WERROR),1)
WARN   += -Werror
endif
ifeq ($(SANITIZE),1)
OPT     = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
          -fno-sanitize-recover=undefined
LDSAN   = -fsanitize=address,undefined
BUILD   = build-san
else
BUILD   = build
endif

JSON_CFLAGS   := $(shell $(PKG_CONFIG) --cflags jansson)
JSON_LIBS     := $(shell $(PKG_CONFIG) --libs jansson)
SQLITE_CFLAGS := $(shell $(PKG_CONFIG) --cflags sqlite3)
SQLITE_LIBS   := $(shell $(PKG_CONFIG) --libs sqlite3)
CRYPTO_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcrypto)
# No program links libcrypto but mq-pub and mq-sub, whose librabbitmq
# brings it anyway (lib/amqp.c reads that copy's error queue):
# lib/crypto_load.c dlopens libcrypto.so.3 at the first hash (issue 29).
CRYPTO_LIBS   := $(shell $(PKG_CONFIG) --libs libcrypto)
CURL_CFLAGS   := $(shell $(PKG_CONFIG) --cflags libcurl)
CURL_LIBS     := $(shell $(PKG_CONFIG) --libs libcurl)
PQ_CFLAGS     := $(shell $(PKG_CONFIG) --cflags libpq)
# No program links libpq: lib/pq_load.c dlopens libpq.so.5 when a
# postgres:// log is opened (issue 29), so only its header is needed here.
# dlopen is in libc from glibc 2.34; before, build with DL_LIBS=-ldl.
DL_LIBS       ?=
RMQ_CFLAGS    := $(shell $(PKG_CONFIG) --cflags librabbitmq)
RMQ_LIBS      := $(shell $(PKG_CONFIG) --libs librabbitmq)
CURSES_LIBS   := $(shell $(PKG_CONFIG) --libs ncursesw)

# -iquote, not -I: lib/amqp.h must not hide rabbitmq-c's <amqp.h>.
CFLAGS  += $(CSTD) $(WARN) $(OPT) -DEVT_VERSION='"$(VERSION)"' -iquote lib \
           $(JSON_CFLAGS) $(SQLITE_CFLAGS) $(CRYPTO_CFLAGS) $(CURL_CFLAGS) \
           $(PQ_CFLAGS) $(RMQ_CFLAGS) -pthread
LDFLAGS += $(LDSAN) -pthread

LIBSRC  = $(wildcard lib/*.c)
LIBOBJ  = $(LIBSRC:lib/%.c=$(BUILD)/lib/%.o)
LIBEVT  = $(BUILD)/libevt.a

# Each program and the libraries it links (STYLE 12: only what it needs).
PROGS   = audit-scan evt-append evt-replay evt-project saga-step evt-verify \
          mq-pub mq-sub evt-trace evt-top saga-orch
LIBS_evt-append = $(SQLITE_LIBS) $(JSON_LIBS)
LIBS_evt-replay = $(SQLITE_LIBS) $(JSON_LIBS)
LIBS_audit-scan = $(SQLITE_LIBS) $(JSON_LIBS) $(CURL_LIBS)
LIBS_evt-project = $(SQLITE_LIBS) $(JSON_LIBS) -lm
LIBS_saga-step  = $(SQLITE_LIBS) $(JSON_LIBS)
LIBS_saga-orch  = $(SQLITE_LIBS) $(JSON_LIBS) -lm
LIBS_evt-verify = $(SQLITE_LIBS) $(JSON_LIBS)
LIBS_mq-pub     = $(RMQ_LIBS) $(SQLITE_LIBS) $(JSON_LIBS) $(CRYPTO_LIBS)
LIBS_mq-sub     = $(RMQ_LIBS) $(SQLITE_LIBS) $(JSON_LIBS) $(CRYPTO_LIBS)
LIBS_evt-trace  = $(SQLITE_LIBS) $(JSON_LIBS)
LIBS_evt-top    = $(CURSES_LIBS) $(SQLITE_LIBS) $(JSON_LIBS) -lm

BINS    = $(PROGS:%=bin/%)
MANS    = $(wildcard man/*.1 man/*.5 man/*.7)

all: $(BINS)

$(BUILD)/lib/%.o: lib/%.c lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/cmd/%.o: cmd/%.c lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIBEVT): $(LIBOBJ)
	rm -f $@
	ar rcs $@ $(LIBOBJ)

# The binaries of a sanitizer build go to bin/ too, so the tests run
# whichever build was made last. bin/.build names it; when the build
# asked for is the other one, its binaries are removed here, as the
# Makefile is read, so that every one is linked again. (A stamp file as a
# prerequisite cannot do it: .SECONDARY lets make skip a missing one.)
# (Not under make -n, which is to change nothing.)
ifeq ($(findstring n,$(firstword -$(MAKEFLAGS))),)
ifneq ($(shell cat bin/.build 2>/dev/null),$(BUILD))
BUILD_SWITCH := $(shell rm -f $(BINS); mkdir -p bin; echo $(BUILD) >bin/.build)
endif
endif

bin/%: $(BUILD)/cmd/%.o $(LIBEVT)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $< $(LIBEVT) $(LIBS_$*) $(DL_LIBS)

# libFuzzer harnesses (fuzz/*.c) over libevt built with clang and the
# sanitizers (fuzz/README). `make fuzz` runs each for FUZZ_SECONDS (600)
# from its corpus in testdata/fuzz/NAME, keeping what it finds new in
# build-fuzz/corpus/NAME; a crash, leak or timeout is written to
# build-fuzz/NAME-crash-* and fails the run (`make -j2 fuzz`: two at a
# time). `make fuzz-regress` runs each over its corpus once, and over
# inputs of 16 MiB (the test suite does).
FUZZ_CC      ?= clang
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   = $(CSTD) -g -O1 -D_GNU_SOURCE -DEVT_VERSION='"$(VERSION)"' \
                -iquote lib $(JSON_CFLAGS) $(SQLITE_CFLAGS) $(CRYPTO_CFLAGS) \
                $(CURL_CFLAGS) $(PQ_CFLAGS) $(RMQ_CFLAGS) -pthread $(FUZZ_SAN)
FUZZ_LIBS     = $(RMQ_LIBS) $(SQLITE_LIBS) $(JSON_LIBS) $(CURL_LIBS) \
                $(CRYPTO_LIBS) $(DL_LIBS) -lm -pthread
FUZZERS       = $(patsubst fuzz/%.c,%,$(wildcard fuzz/*.c))
FUZZ_SECONDS ?= 600
FUZZ_LIBOBJ   = $(LIBSRC:lib/%.c=build-fuzz/lib/%.o)

build-fuzz/lib/%.o: lib/%.c lib/*.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build-fuzz/libevt.a: $(FUZZ_LIBOBJ)
	rm -f $@
	ar rcs $@ $(FUZZ_LIBOBJ)

build-fuzz/fuzz-%: fuzz/%.c fuzz/fuzz.h build-fuzz/libevt.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build-fuzz/libevt.a $(FUZZ_LIBS)

fuzz-build: $(FUZZERS:%=build-fuzz/fuzz-%)

# One target per harness, so that `make -j2 fuzz` runs two at a time.
fuzz: $(FUZZERS:%=fuzz-run-%)

fuzz-run-%: build-fuzz/fuzz-%
	@mkdir -p build-fuzz/corpus/$* testdata/fuzz/$*
	@echo "fuzz: $* for $(FUZZ_SECONDS) s"
	@build-fuzz/fuzz-$* -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/$*- \
	    build-fuzz/corpus/$* testdata/fuzz/$* 2>build-fuzz/$*.log || \
	    { tail -40 build-fuzz/$*.log; exit 1; }
	@grep -E '^stat::number_of_executed_units|^stat::peak_rss' \
	    build-fuzz/$*.log | sed 's/^/$*: /'

# Inputs no run makes (-max_len=65536): 16 MiB, the longest line evt
# takes, as a JSON string, nesting, digits and an event, and one framed for
# fuzz/filter.c (scripts/gen-fuzz-big; not kept in git). Linear work on
# them takes seconds, so -timeout=30 stops only worse. -detect_leaks=0
# spares libFuzzer's second run of each input (to count mallocs):
# LeakSanitizer still looks for leaks at exit.
build-fuzz/big/.made: scripts/gen-fuzz-big
	@rm -rf build-fuzz/big
	@scripts/gen-fuzz-big build-fuzz/big
	@touch $@

# One target per harness, so that `make -j2 fuzz-regress` runs two at a
# time.
fuzz-regress: $(FUZZERS:%=fuzz-regress-%)
	@echo "fuzz-regress: $(FUZZERS): every corpus input and" \
	    "the 16 MiB inputs run clean"

fuzz-regress-%: build-fuzz/fuzz-% build-fuzz/big/.made
	@build-fuzz/fuzz-$* -runs=0 -timeout=10 -artifact_prefix=build-fuzz/$*- \
	    testdata/fuzz/$* 2>build-fuzz/$*-regress.log || \
	    { tail -40 build-fuzz/$*-regress.log; exit 1; }
	@build-fuzz/fuzz-$* -timeout=30 -rss_limit_mb=1024 -detect_leaks=0 \
	    -artifact_prefix=build-fuzz/$*-big- build-fuzz/big/all/* \
	    $$(find build-fuzz/big/$* -type f 2>/dev/null) \
	    2>build-fuzz/$*-big.log || { tail -40 build-fuzz/$*-big.log; exit 1; }

# Make testdata/fuzz/NAME small again, with what `make fuzz` kept in
# build-fuzz/corpus/NAME folded in: the files that reach its edges, chosen
# by set cover on edges alone (hit counts would keep a file for each new
# count bucket), and every named file (a seed, a regress- reproducer)
# under its name. The edges covered before and after are printed; they
# should be the same.
fuzz-cmin-%: build-fuzz/fuzz-%
	@rm -rf build-fuzz/cmin/$*
	@mkdir -p build-fuzz/cmin/$* build-fuzz/corpus/$*
	@for f in testdata/fuzz/$*/*; do \
		echo "$${f##*/}" | grep -qE '^[0-9a-f]{40}$$' || \
		    cp "$$f" build-fuzz/cmin/$*/; \
	done
	@build-fuzz/fuzz-$* -set_cover_merge=1 -use_counters=0 \
	    build-fuzz/cmin/$* testdata/fuzz/$* build-fuzz/corpus/$* \
	    2>build-fuzz/$*-cmin.log || { tail -20 build-fuzz/$*-cmin.log; exit 1; }
	@cov() { build-fuzz/fuzz-$* -runs=0 "$$@" 2>&1 | \
	    sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p'; }; \
	before="$$(ls testdata/fuzz/$* | wc -l) files, $$(cov testdata/fuzz/$* \
	    build-fuzz/corpus/$*) edges"; \
	for f in testdata/fuzz/$*/*; do \
		echo "$${f##*/}" | grep -qE '^[0-9a-f]{40}$$' && rm "$$f"; \
	done; cp build-fuzz/cmin/$*/* testdata/fuzz/$*/; \
	echo "fuzz-cmin: $*: $$before (with build-fuzz/corpus/$*) ->" \
	    "$$(ls testdata/fuzz/$* | wc -l) files, $$(cov testdata/fuzz/$*) edges"

# From clean, so that -Werror sees every file.
check:
	$(MAKE) clean
	$(MAKE) WERROR=1 all
	$(MAKE) lint
	$(MAKE) test

lint:
	mandoc -T lint -W warning $(MANS)

test: all
	bats --print-output-on-failure test

# The suite with every program it runs by name under valgrind memcheck
# (wrappers in build/valgrind-bin, first on the tests' PATH; valgrind
# finds the program on PATH, so argv[0] and its messages are as without
# it): an error or a definite or indirect leak makes the program exit 99,
# which fails its test. Each run's report goes to a file of its own in
# build/valgrind-log (TEST-PROGRAM.PID), not to the program's stderr
# (unless stdin or stdout is closed, where the file would take its place):
# many tests do not look at every program's status (a pipeline's first
# command, a process in the background), so after bats every report
# there is printed and any one fails the target. Slow: VALGRIND_TESTS
# picks the files (default all).
VALGRIND_TESTS ?= test
VALGRIND_LOG = $(CURDIR)/build/valgrind-log
check-valgrind: all
	@rm -rf build/valgrind-bin $(VALGRIND_LOG) && mkdir -p build/valgrind-bin $(VALGRIND_LOG)
	@chmod 1777 $(VALGRIND_LOG)	# some tests run a program as nobody (setpriv)
	@for p in $(PROGS); do \
		printf '#!/bin/sh\n# A log file opened where stdin or stdout is closed would take its place.\nif { true 3<&0 4>&1; } 2>/dev/null; then log=--log-file="%s/$${BATS_TEST_NUMBER:-0}-%s.%%p"; else log=--log-fd=2; fi\nPATH="%s:$$PATH" exec valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$$log" %s "$$@"\n' \
		    "$(VALGRIND_LOG)" "$$p" "$(CURDIR)/bin" "$$p" >build/valgrind-bin/$$p; \
		chmod +x build/valgrind-bin/$$p; \
	done
	@echo "EVT_TEST_BIN=$(CURDIR)/build/valgrind-bin bats --print-output-on-failure $(VALGRIND_TESTS)"
	@EVT_TEST_BIN=$(CURDIR)/build/valgrind-bin bats --print-output-on-failure $(VALGRIND_TESTS); \
	status=$$?; \
	find $(VALGRIND_LOG) -type f -empty -delete; \
	for f in $(VALGRIND_LOG)/*; do \
		[ -e "$$f" ] || continue; \
		echo "valgrind: $$f:"; cat "$$f"; status=1; \
	done; \
	exit $$status

golden: all
	EVT_GOLDEN=1 bats test

demo: all
	scripts/demo

bench: all build/bench/evt-append-nochain
	scripts/bench

# The baseline of what chaining costs an append (scripts/bench, section
# 9): evt-append with no hash chain at all (-DEVT_BENCH_NO_CHAIN). Built
# by `make bench` only, never installed.
NOCHAIN = build/bench/nochain
NOCHAIN_OBJ = $(LIBSRC:lib/%.c=$(NOCHAIN)/lib/%.o)

$(NOCHAIN)/%.o: %.c lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DEVT_BENCH_NO_CHAIN -c -o $@ $<

$(NOCHAIN)/libevt.a: $(NOCHAIN_OBJ)
	rm -f $@
	ar rcs $@ $(NOCHAIN_OBJ)

build/bench/evt-append-nochain: $(NOCHAIN)/cmd/evt-append.o $(NOCHAIN)/libevt.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_evt-append) $(DL_LIBS)

# The checker of evt's Merkle tree, tiles, proofs and checkpoints against
# Go's golang.org/x/mod/sumdb/tlog and sumdb/note (test/evt-verify.bats
# builds it itself; this rule is for running it by hand). Tests only.
build/test/tlog-check: test/tlog-check.go
	@mkdir -p $(dir $@)
	GO111MODULE=off GOPATH=/usr/share/gocode go build -o $@ test/tlog-check.go

# The saga properties of test/saga-prop.py over many more seeds than the
# suite runs (SOAK_SEEDS, from SOAK_FIRST), then the live services of
# test/saga-live.py under load, kill -9 and racing instances, on SQLite
# and PostgreSQL (SOAK_LIVE_SEEDS, about 11 s each per backend).
SOAK_SEEDS ?= 3000
SOAK_FIRST ?= 1000
SOAK_LIVE_SEEDS ?= 100
soak: all
	PATH="$(CURDIR)/bin:$$PATH" python3 test/saga-prop.py $(SOAK_SEEDS) $(SOAK_FIRST)
	PATH="$(CURDIR)/bin:$$PATH" python3 test/saga-live.py $(SOAK_LIVE_SEEDS) $(SOAK_FIRST) --backend both

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)
	install -m 644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(wildcard man/*.5) $(DESTDIR)$(MANDIR)/man5
	install -m 644 $(wildcard man/*.7) $(DESTDIR)$(MANDIR)/man7

clean:
	rm -rf build build-san build-fuzz bin


.PHONY: check-valgrind
.PHONY: all check lint test golden demo bench soak install clean fuzz fuzz-build fuzz-regress
.SECONDARY:
