# Open MPI: data-parallel hm-train (common/dist.c, hm-train(1) "MPI").
#   make            MPI is built in when mpicc is on PATH (Debian: openmpi-bin
#                   and libopenmpi-dev, in deps/debian.txt), left out otherwise
#   make MPI=1      require it (an error when mpicc is missing)
#   make MPI=0      leave it out: common/dist.c compiles as single-process stubs
# Only common/dist.c includes <mpi.h>; only programs that use it (hm-train)
# link libmpi (--as-needed keeps it out of the other tools).  Another MPI:
# give MPI_CFLAGS and MPI_LIBS (e.g. from `mpicc -show`) with MPI=1.
# A change of MPI rebuilds common/dist.o (the object is checked for MPI
# symbols), so switching needs no `make clean`.

MPICC ?= mpicc
ifndef MPI
MPI := $(if $(shell command -v $(MPICC) 2>/dev/null),1,0)
endif

ifeq ($(MPI),1)
ifndef MPI_LIBS
MPI_CFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null)
MPI_LIBS := $(shell $(MPICC) --showme:link 2>/dev/null)
endif
ifeq ($(strip $(MPI_LIBS)),)
$(error MPI=1 but '$(MPICC) --showme:link' gave nothing: install openmpi-bin and libopenmpi-dev, or set MPI_CFLAGS and MPI_LIBS)
endif
common/dist.o: CPPFLAGS += -DHM_MPI $(MPI_CFLAGS)
LDLIBS += -Wl,--as-needed $(MPI_LIBS) -Wl,--no-as-needed
endif

MPI_IN_OBJ := $(shell nm common/dist.o 2>/dev/null | grep -q ' U MPI_Init_thread' && echo 1 || echo 0)
ifneq ($(wildcard common/dist.o),)
ifneq ($(MPI_IN_OBJ),$(MPI))
common/dist.o: mpi-rebuild
endif
endif
.PHONY: mpi-rebuild
