# valgrind memcheck over the tests.
#   make check-valgrind        unit, CLI and reference tests, every program
#                              of ours under memcheck (slow: run it under
#                              nice -n 19)
#   make check-valgrind-unit   only the unit tests (tests/unit/*.t)
#   make check-valgrind-cli    only the CLI tests (VG_CLI_TESTS to pick some)
#   make check-valgrind-ref    only the reference tests (VG_REF_TESTS)
# Unit test binaries run through prove --exec; CLI tests find the tools
# through wrappers in tests/tmp/valgrind/bin, which tests/cli/lib.sh puts
# first on PATH when HM_VALGRIND=1, so every hm-* a test (or a python
# helper it starts) runs is checked.  The reference tests (tests/ref/*.py,
# run natively) find the tools and the tests/ref/*-driver programs through
# wrappers in tests/tmp/valgrind/bin and tests/tmp/valgrind/ref
# (tests/ref/hmtest.py, when HM_VALGRIND=1).  memcheck writes into
# tests/tmp/valgrind/log/PID.log (stderr stays the tool's own, which the
# tests check); a program with an error or a definite leak exits 99, which
# fails its test, and the logs are summed up at the end.
# The pipeline tests (t0800) run make, whose recipes name bin/hm-X: they
# give make SHELL=tests/tmp/valgrind/make-shell (tests/cli/lib.sh's
# VG_MAKE), which runs each recipe with those names turned into the
# wrappers' (make still prints the recipe as written).
# mk/valgrind.supp holds suppressions for third-party noise only.

VG_DIR := tests/tmp/valgrind
VG_FLAGS := -q --tool=memcheck --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite \
	--suppressions=$(CURDIR)/mk/valgrind.supp --num-callers=30 \
	--log-file=$(CURDIR)/$(VG_DIR)/log/%p.log
# The tools: no AVX-512 under valgrind 3.19, so OpenBLAS is told a core
# valgrind runs, and libgomp waits passively; these spare blas_init's
# re-exec, whose new image valgrind would not follow.  The unit tests run
# in the plain environment.  t-blas is left out: it checks that a child
# re-executed through /proc/self/exe sees the CPU its parent saw, but the
# new image runs outside valgrind, on the real CPU, while valgrind shows
# the parent a CPU of its own (and with --trace-children the checks on the
# child's environment fail); make check and the ASan build cover it.
# JSIMD_FORCENONE=1: libjpeg-turbo's SIMD decode paths are reported as
# uses of uninitialised values (pixels, then their CRC) that its plain C
# paths do not produce: measured on t0400-pack-tree, 2 tests fail with SIMD
# and all 14 pass without it.  The C paths are checked instead.
# HWLOC_COMPONENTS=-x86: under valgrind, Open MPI's hwloc prints three lines
# on stderr ("hwloc x86 backend cannot work under Valgrind") in every rank,
# which failed t0560's quiet-stderr test; without that backend hwloc still
# reads the topology from Linux's /sys, and says nothing.
# OPENBLAS_THREAD_TIMEOUT=4: what blas_init's re-exec sets beside the
# passive wait policy.  Without it OpenBLAS's idle worker spins for 2^28
# cycles after every threaded sgemm, and under valgrind, which runs one
# thread at a time, that spin starves the main thread: model-driver's
# ir18 case ran for over two hours unfinished, and tests/ref/model_torch.py
# passes in 36 minutes with it; its face18 case alone takes 3.5 minutes
# with it, as with one thread.
VG_ENV := OPENBLAS_CORETYPE=Haswell OMP_WAIT_POLICY=passive JSIMD_FORCENONE=1 \
	HWLOC_COMPONENTS=-x86 OPENBLAS_THREAD_TIMEOUT=4
VG_UNIT_TESTS ?= $(filter-out tests/unit/t-blas.t,$(call tests_in,tests/unit))
VG_CLI_TESTS ?= $(call tests_in,tests/cli)
VG_REF_TESTS ?= $(call tests_in,tests/ref)

.PHONY: check-valgrind check-valgrind-unit check-valgrind-cli check-valgrind-ref \
	valgrind-wrappers \
	valgrind-report

valgrind-wrappers: all $(REF_DRIVERS)
	@rm -rf $(VG_DIR)/bin $(VG_DIR)/ref && mkdir -p $(VG_DIR)/bin $(VG_DIR)/ref $(VG_DIR)/log
	@for t in $(TOOLS) $(REF_DRIVERS); do \
		w=$(VG_DIR)/$${t#tests/}; \
		printf '#!/bin/sh\nexec valgrind %s "%s" "$$@"\n' \
			'$(VG_FLAGS)' '$(CURDIR)/'$$t >$$w; \
		chmod +x $$w; \
	done
	@printf '%s\n' '#!/bin/bash' \
		'# make SHELL for the pipeline tests (mk/valgrind.mk): the recipe, the' \
		'# last argument, runs with each bin/hm-X as its memcheck wrapper.' \
		'n=$$#' \
		'r=$$(printf "%s" "$${!n}" | sed -E "s#(^|[[:space:];|&(])bin/hm-#\\1$(CURDIR)/$(VG_DIR)/bin/hm-#g")' \
		'exec bash "$${@:1:n-1}" "$$r"' >$(VG_DIR)/make-shell
	@chmod +x $(VG_DIR)/make-shell

check-valgrind-unit: $(UNIT_BIN) valgrind-wrappers
	prove --exec 'valgrind $(VG_FLAGS)' $(VG_UNIT_TESTS)
	@$(MAKE) -s valgrind-report

check-valgrind-cli: valgrind-wrappers
	env $(VG_ENV) HM_VALGRIND=1 prove --timer --exec '' $(VG_CLI_TESTS)
	@$(MAKE) -s valgrind-report

check-valgrind-ref: valgrind-wrappers
	env $(VG_ENV) HM_VALGRIND=1 prove --timer --exec '' $(VG_REF_TESTS)
	@$(MAKE) -s valgrind-report

check-valgrind: $(UNIT_BIN) valgrind-wrappers
	@rm -f $(VG_DIR)/log/*.log
	prove --exec 'valgrind $(VG_FLAGS)' $(VG_UNIT_TESTS)
	env $(VG_ENV) HM_VALGRIND=1 prove --timer --exec '' $(VG_CLI_TESTS)
	env $(VG_ENV) HM_VALGRIND=1 prove --timer --exec '' $(VG_REF_TESTS)
	@$(MAKE) -s valgrind-report

# Programs run, and those whose log holds an error (an empty log is clean).
valgrind-report:
	@n=$$(ls $(VG_DIR)/log | wc -l); \
	bad=$$(find $(VG_DIR)/log -type f -name '*.log' -size +0 | wc -l); \
	echo "valgrind: $$n programs checked, $$bad with errors (logs in $(VG_DIR)/log)"; \
	test $$bad = 0
