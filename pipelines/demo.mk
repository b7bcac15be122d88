# demo.mk: the whole suite on synthetic data, with nothing to download.
#
#   make demo                    one seed, about 3 minutes on 2 idle cores
#   make demo SEEDS="1 2 3"      three training seeds: is a difference noise?
#
# What it does: hm-synth renders a CASIA-shaped training set (500 identities
# x 20 images, hard nuisance, 30% look-alikes) and an LFW-shaped test set for
# the real LFW pair list (6000 pairs, 7701 images of other identities); both
# are aligned to 32x32 and packed (data.mk).  A small IResNet
# (ir:1,1,1,1:16,32,64,128, 128-d) is trained with the paper's three losses,
# softmax, A-Softmax and ArcFace, each without and with hard mining (--hm
# DEMO_MINING, powern:2), 3 epochs at lr 0.01, x0.1 after 2; each model
# embeds the test set (flip sum), hm-verify scores the pairs, hm-roc
# evaluates the 10-fold protocol.  Output in DEMO (demo/): table.md
# (printed at the end: the -hm mode and the rate, accuracy mean +- std,
# AUC, TAR@FAR=1e-3, baseline and -hm side by side with the difference),
# lfw-roc.svg (every run's ROC), lfw.csv (hm-roc --csv), runs.txt (each
# run's mode and rate), one folder per run (LOSS[-hm]-sSEED: model.hmm,
# train.csv, report.txt, lfw.scores.csv).
#
# One rate for all six runs, so that a difference is hard mining's alone.
# (At 0.1, softmax with the literal power:2 became NaN at iteration 14, and
# ArcFace reached 84% instead of 95% on this small net in 4 epochs.)  make
# study (study.mk) runs every loss and mode on this data over three seeds.
#
# What to expect (2 cores): 180 s from a fresh clone, build included,
# measured with nothing else running (344 s of CPU; 7 minutes beside make
# study): the data, then the six trainings two at a time, one thread each
# (DEMO_JOBS).  Variables: data.mk (DEMO_IDS, DEMO_SIZE, ...), and
# DEMO_LOSSES, DEMO_ARCH, DEMO_EMB, DEMO_BATCH, DEMO_EPOCHS, DEMO_LR_STEPS,
# DEMO_LR, DEMO_MINING, DEMO_JOBS, DEMO_TRAIN_THREADS below.  Interrupted
# trainings resume.

ifndef HM_DEMO_MK
HM_DEMO_MK := 1
include $(dir $(lastword $(MAKEFILE_LIST)))data.mk

SEEDS ?= 1
DEMO_LOSSES ?= softmax asoftmax arcface
DEMO_ARCH ?= ir:1,1,1,1:16,32,64,128
DEMO_EMB ?= 128
DEMO_BATCH ?= 64
DEMO_EPOCHS ?= 3
DEMO_LR_STEPS ?= 2
DEMO_LR ?= 0.01
DEMO_MINING ?= powern:2
DEMO_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEMO_TRAIN_THREADS ?= 1

HM_DEMO_RUNS := $(foreach s,$(SEEDS),$(foreach l,$(DEMO_LOSSES),$(l)-s$(s) $(l)-hm-s$(s)))

# $(call hm_demo_opts,RUN): hm-train options of RUN (LOSS[-hm]-sSEED).
hm_demo_seed = $(patsubst s%,%,$(lastword $(subst -, ,$(1))))
hm_demo_variant = $(patsubst %-s$(call hm_demo_seed,$(1)),%,$(1))
hm_demo_opts = -a $(DEMO_ARCH) --emb-size $(DEMO_EMB) -b $(DEMO_BATCH) \
	--loss $(patsubst %-hm,%,$(call hm_demo_variant,$(1))) \
	--epochs $(DEMO_EPOCHS) --lr-steps $(DEMO_LR_STEPS) --seed $(call hm_demo_seed,$(1)) \
	$(if $(filter %-hm,$(call hm_demo_variant,$(1))),--hm $(DEMO_MINING)) --lr $(DEMO_LR)

define hm_demo_rules
$(DEMO)/$(1)/train.opts: hm-FORCE
	$$(call hm_stamp,$$(strip $$(call hm_demo_opts,$(1))))

$(DEMO)/$(1)/model.hmm: $(DEMO)/train.hmr $(DEMO)/$(1)/train.opts | bin/hm-train
	bin/hm-train -q -j $$(DEMO_TRAIN_THREADS) $$(call hm_resume_if,$$(@D),$$^) \
		$$(strip $$(call hm_demo_opts,$(1))) --checkpoint-every 100 -o $$(@D) $$< > $$(@D)/report.txt

$(DEMO)/$(1)/lfw.scores.csv: $(DEMO)/$(1)/model.hmm $(DEMO)/lfw.hmr | bin/hm-embed bin/hm-verify
	bin/hm-embed -q -j $$(DEMO_TRAIN_THREADS) -m $$< $(DEMO)/lfw.hmr | bin/hm-verify -o $$@ $(DEMO)/lfw/$$(hm_demo_pairs_name) -
endef
$(foreach r,$(HM_DEMO_RUNS),$(eval $(call hm_demo_rules,$(r))))

# hm-synth copies the pair list into the tree under its format's name.
hm_demo_pairs_name = pairs.txt

HM_DEMO_SCORES := $(foreach r,$(HM_DEMO_RUNS),$(DEMO)/$(r)/lfw.scores.csv)

$(DEMO)/lfw.csv: $(HM_DEMO_SCORES) | bin/hm-roc
	bin/hm-roc --csv -o $@ --svg $(DEMO)/lfw-roc.svg $(foreach r,$(HM_DEMO_RUNS),--label $(r)) $^

# Each run's label, --hm mode and --lr, from its train.opts (table.awk).
hm_opts_line = $(1) $(or $(patsubst --hm=%,%,$(filter --hm=%,$(subst --hm ,--hm=,$(2)))),none) $(patsubst --lr=%,%,$(filter --lr=%,$(subst --lr ,--lr=,$(2))))

$(DEMO)/runs.txt: $(foreach r,$(HM_DEMO_RUNS),$(DEMO)/$(r)/train.opts)
	printf '%s\n' $(foreach r,$(HM_DEMO_RUNS),'$(call hm_opts_line,$(r),$(strip $(call hm_demo_opts,$(r))))') > $@

$(DEMO)/table.md: $(DEMO)/lfw.csv $(DEMO)/runs.txt pipelines/table.awk
	awk -v title='hm demo: $(DEMO_IDS) synthetic identities x $(DEMO_IMGS) images at $(DEMO_SIZE), $(DEMO_ARCH), $(DEMO_EPOCHS) epochs (x0.1 after $(DEMO_LR_STEPS)), -hm: --hm $(DEMO_MINING), every run at lr $(DEMO_LR); seeds $(SEEDS)' \
		-v train=synthetic -v runs=$(DEMO)/runs.txt -f pipelines/table.awk $< > $@.tmp && mv $@.tmp $@

# The work runs in a sub-make with DEMO_JOBS jobs (the trainings are
# single-threaded: two of them side by side beat one on two threads) unless
# the command line already gave -j.
.PHONY: demo demo-run
demo: all
	@$(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(DEMO_JOBS)) demo-run
	@cat $(DEMO)/table.md
	@echo
	@echo "ROC plot: $(DEMO)/lfw-roc.svg; scores, models and logs in $(DEMO)/"

demo-run: $(DEMO)/table.md

endif
