# bench.mk: `make bench`, the performance table (bench/run.sh; README
# "Performance").  Not part of `make check`.
#   make bench                       every row (31 minutes on 2 cores at load 6-12)
#   make bench QUICK=1               small work, to check the harness itself
#   make bench BENCH_RUNS=5          runs per figure (3)
#   make bench BENCH_ROWS="conv align"   some rows only (conv align embed train)
#   make bench BENCH_THREADS=1       threads on both sides (2)
# The probe bench/convstep.c is compiled with this Makefile's compiler,
# flags and libraries (in a temporary directory; nothing is left in the tree).

BENCH_RUNS ?= 3
BENCH_THREADS ?= 2
BENCH_ROWS ?=

.PHONY: bench
bench: $(TOOLS) libhm.a tests/ref/model-driver
	HM_BENCH_BUILT=1 BENCH_RUNS='$(BENCH_RUNS)' BENCH_THREADS='$(BENCH_THREADS)' \
	QUICK='$(QUICK)' BENCH_CC='$(CC)' \
	BENCH_CFLAGS='$(filter-out -MMD -MP,$(CPPFLAGS)) $(ALL_CFLAGS)' \
	BENCH_LIBS='$(ALL_LDFLAGS) $(LDLIBS)' bench/run.sh $(BENCH_ROWS)
