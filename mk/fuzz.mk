# Fuzzing with libFuzzer (clang): one target per parser, fuzz/fz-NAME.c.
#   make fuzz-build    build every target into fuzz/build/
#   make fuzz          build, then fuzz each target FUZZ_TIME seconds on its
#                      corpus; a crash, hang or leak is saved in fuzz/crashes/
#                      and fails the target (make -k fuzz runs them all)
#   make fuzz-NAME     the same for one target
#   make fuzz-replay   run every target once over its committed corpus and
#                      regression inputs (seconds; CI runs it)
# The library is recompiled into fuzz/build/ with the sanitizers and
# coverage; the normal objects are not touched.  New corpus units found by
# a run go to fuzz/work/NAME/ (git-ignored); fuzz/corpus/NAME/ holds the
# small committed seeds, fuzz/regress/NAME/ inputs that once crashed.

FUZZ_CC ?= clang
FUZZ_TIME ?= 60
FUZZ_FLAGS ?= -rss_limit_mb=2048 -timeout=10
FUZZ_DIR := fuzz/build
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -g -O1 -Wall -Wextra -Wno-unused-parameter \
	-Wno-unknown-pragmas $(FUZZ_SAN)
FUZZ_NAMES := $(patsubst fuzz/fz-%.c,%,$(sort $(wildcard fuzz/fz-*.c)))
FUZZ_BINS := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fz-%)
FUZZ_LIB_OBJ := $(patsubst common/%.c,$(FUZZ_DIR)/%.o,$(LIB_SRC))

# Longest input per target (bytes): text formats stay short so libFuzzer
# spends its time on structure; images and containers need room.
FUZZ_MAX_LEN = $(or $(FUZZ_MAX_LEN_$(1)),4096)
FUZZ_MAX_LEN_img := 65536
FUZZ_MAX_LEN_model := 16384
FUZZ_MAX_LEN_rec := 16384
FUZZ_MAX_LEN_mxrec := 16384
FUZZ_MAX_LEN_pybin := 16384

.PHONY: fuzz fuzz-build fuzz-replay $(FUZZ_NAMES:%=fuzz-%)

.SECONDARY: $(FUZZ_NAMES:%=$(FUZZ_DIR)/fz-%.o)

fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR)/%.o: common/%.c
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/fz-%.o: fuzz/fz-%.c fuzz/fz.h
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/libhm-fuzz.a: $(FUZZ_LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_DIR)/fz-%: $(FUZZ_DIR)/fz-%.o $(FUZZ_DIR)/libhm-fuzz.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz: $(FUZZ_NAMES:%=fuzz-%)

# One run: new units into fuzz/work/NAME, seeds read from fuzz/corpus/NAME;
# the exit status is libFuzzer's (non-zero on a crash, a hang or a leak).
$(FUZZ_NAMES:%=fuzz-%): fuzz-%: $(FUZZ_DIR)/fz-%
	@mkdir -p fuzz/work/$* fuzz/crashes
	nice -n 19 $< $(FUZZ_FLAGS) -max_total_time=$(FUZZ_TIME) \
		-max_len=$(call FUZZ_MAX_LEN,$*) -print_final_stats=1 \
		$(if $(wildcard fuzz/fz-$*.dict),-dict=fuzz/fz-$*.dict) \
		-artifact_prefix=fuzz/crashes/$*- fuzz/work/$* fuzz/corpus/$*

# Every committed input once, each target a single process.
fuzz-replay: $(FUZZ_BINS)
	@for n in $(FUZZ_NAMES); do \
		files=$$(find fuzz/corpus/$$n fuzz/regress/$$n -type f 2>/dev/null | sort || true); \
		[ -n "$$files" ] || { echo "fuzz-replay: $$n: no corpus" >&2; exit 1; }; \
		$(FUZZ_DIR)/fz-$$n $(FUZZ_FLAGS) $$files >$(FUZZ_DIR)/replay-$$n.log 2>&1 || \
			{ tail -n 40 $(FUZZ_DIR)/replay-$$n.log >&2; \
			  echo "fuzz-replay: $$n: FAILED" >&2; exit 1; }; \
		echo "fuzz-replay: $$n: $$(echo $$files | wc -w) inputs ok"; \
	done

-include $(wildcard $(FUZZ_DIR)/*.d)
