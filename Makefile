# The hm suite: one non-recursive Makefile.
#   make            build every tool into bin/
#   make check      build, then run every test with prove (TAP)
#   make demo       the main job on synthetic data (pipelines/demo.mk)
#   make install PREFIX=/usr/local
# Toggles: SANITIZE=1 (address + undefined), WERROR=1, OPENMP=0.

PREFIX ?= /usr/local
CC ?= cc
OPT ?= -O2
CFLAGS ?= $(OPT) -g
WARN := -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-format-truncation
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifeq ($(SANITIZE),1)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
ifneq ($(OPENMP),0)
OMP := -fopenmp
endif
CPPFLAGS += -D_GNU_SOURCE -Icommon -MMD -MP
ALL_CFLAGS = $(WARN) $(CFLAGS) $(SAN) $(OMP)
LDLIBS += -lturbojpeg -ljpeg -lz -lopenblas -lcsv -lpthread -lm
ALL_LDFLAGS = $(LDFLAGS) $(SAN) $(OMP)

LIB_SRC := $(sort $(wildcard common/*.c))
LIB_OBJ := $(LIB_SRC:.c=.o)
TOOL_SRC := $(sort $(wildcard tools/hm-*.c))
TOOLS := $(patsubst tools/%.c,bin/%,$(TOOL_SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/t-*.c))
UNIT_BIN := $(UNIT_SRC:.c=.t)
# Test-only programs that reference tests (tests/ref/*.py) drive.
REF_DRIVERS := $(patsubst %.c,%,$(sort $(wildcard tests/ref/*-driver.c)))
MAN_PAGES := $(sort $(wildcard man/man1/*.1 man/man5/*.5 man/man7/*.7))

.PHONY: all check check-unit check-cli check-blas-env lint-man install clean demo
.DELETE_ON_ERROR:
# Keep test and tool objects between runs (make would delete them as intermediates).
.SECONDARY: $(UNIT_SRC:.c=.o) $(REF_DRIVERS:=.o) $(TOOL_SRC:.c=.o)

all: $(TOOLS)

libhm.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

tests/unit/%.o tests/ref/%.o: ALL_CFLAGS += -Itests/unit
%.o: %.c
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

bin/%: tools/%.o libhm.a
	@mkdir -p bin
	$(CC) $(ALL_LDFLAGS) -o $@ $< libhm.a $(LDLIBS)

tests/unit/%.t: tests/unit/%.o libhm.a
	$(CC) $(ALL_LDFLAGS) -o $@ $< libhm.a $(LDLIBS)

tests/ref/%-driver: tests/ref/%-driver.o libhm.a
	$(CC) $(ALL_LDFLAGS) -o $@ $< libhm.a $(LDLIBS)

# prove runs each test as an executable (--exec ''): C unit tests are
# binaries, CLI tests shell scripts, reference tests python3 scripts.  A test
# is an executable file; libraries beside them (tests/cli/lib.sh, python
# modules in tests/ref/) are not executable and are not run.
PROVE := prove --exec ''
tests_in = $(shell find $(1) -type f -perm -u+x \( -name '*.t' -o -name '*.sh' \
	-o -name '*.py' \) | sort)
# A tool that wrote over a device with a file would break every process on
# the machine: after the tests, /dev/null must still be a character device
# (checked also when a test failed; the status is then prove's).
NULL_GUARD = rc=$$?; test -c /dev/null || \
	{ echo '/dev/null is no longer a character device'; exit 1; }; exit $$rc
check: all $(UNIT_BIN) $(REF_DRIVERS) lint-man
	$(PROVE) $(call tests_in,tests/unit tests/cli tests/ref); $(NULL_GUARD)

check-unit: $(UNIT_BIN)
	$(PROVE) $(call tests_in,tests/unit); $(NULL_GUARD)

check-cli: all
	$(PROVE) $(call tests_in,tests/cli); $(NULL_GUARD)

# The unit tests under both BLAS environments a machine may give them:
# OPENBLAS_CORETYPE unset (OpenBLAS detects, hm may choose) and set to an
# older core of the processor's family, as some AVX-512 machines pin it.
BLAS_ENV_CORE = $(shell grep -qm1 AuthenticAMD /proc/cpuinfo 2>/dev/null && echo Zen || echo Haswell)
check-blas-env: $(UNIT_BIN)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PROVE) $(call tests_in,tests/unit)
	env OPENBLAS_CORETYPE=$(BLAS_ENV_CORE) $(PROVE) $(call tests_in,tests/unit)

# mandoc exits non-zero on warnings with -W warning.
lint-man:
	@for m in $(MAN_PAGES); do mandoc -T lint -W warning $$m || exit 1; done
	@echo "man pages: $(words $(MAN_PAGES)) linted"

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin
	for m in $(MAN_PAGES); do \
		s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s; done

clean:
	rm -rf bin libhm.a common/*.o common/*.d tools/*.o tools/*.d \
		tests/unit/*.o tests/unit/*.d tests/unit/*.t \
		tests/ref/*.o tests/ref/*.d $(REF_DRIVERS) tests/tmp

-include $(wildcard common/*.d tools/*.d tests/unit/*.d tests/ref/*.d)
-include $(wildcard pipelines/*.mk)
# Optional parts (bench, fuzzing, MPI, valgrind) keep their rules in mk/.
-include $(wildcard mk/*.mk)
