# study.mk: does hard mining help, at equal learning rate?  Every loss x
# every hard-mining reading x three seeds on the demo's synthetic data.
#
#   make study                   the whole study, then STUDY/table.md
#   make study STUDY_SEEDS=1     one seed (a third of the time)
#
# Runs: STUDY_LOSSES (softmax asoftmax arcface cosface) x STUDY_MODES (none
# power:2 powern:2 pivot:2 focaln:2 focal:2 ohem:0.5) x STUDY_SEEDS (1 2 3),
# plus, per loss and seed, an lr-matched control for power:2: no hard
# mining at the rate power:2 effectively runs at the start.  power:2's
# gradient is sum_i 2 L_i g_i / B where the base loss's is sum_i g_i / B;
# at the start every L_i is close to the batch mean L0, so power:2 is the
# base loss at lr x 2 L0.  L0 is measured, not assumed: the first logged
# loss (train.csv, iteration 1) of the same loss and seed without hard
# mining.  Every run has the same rate (STUDY_LR), schedule and seed as its
# loss's baseline; only the control's rate differs, by design.
#
# Each run trains on DEMO/train.hmr (demo.mk's data targets: the same
# packs as make demo), embeds DEMO/lfw.hmr (flip sum), scores the LFW pair
# list and keeps hm-roc's 10-fold accuracy and TAR@FAR=1e-3 in one line,
# STUDY/RUN/row.  A run whose loss or weights stop being finite is kept as
# "diverged" (that is a result too).  STUDY/table.md (pipelines/study.awk):
# per loss and mode, mean +- sample std over seeds, and the paired
# difference to the loss's baseline (same seed) with the std of the
# per-seed differences; '*' marks a difference larger than twice that std.
#
# Files: STUDY/RUN/{train.opts,model.hmm,checkpoint.hmm,train.csv,
# report.txt,train.err,trained,lfw.scores.csv,row}, RUN = LOSS-MODE-sSEED (MODE
# without its colon: power2, ohem0.5; the control is lrmatch).  Every stage
# ends in a file: an interrupted make study resumes the training it
# stopped (from its checkpoint) and redoes nothing finished (a run's
# stages are one recipe, so that runs finish in order, two at a time).  Progress:
# "study: run K of N" as each run starts.
#
# Time: sized for at most 60 minutes on 2 idle cores from a fresh clone:
# 96 runs, two at a time, one thread each, 400 iterations of 64 of the
# demo's images (2.6 epochs) and one embedding of the 7701 test images
# (flip sum).  make demo's six runs of 468 iterations took 180 s from a
# fresh clone on 2 idle cores, so about 30 minutes; with other jobs
# keeping the load at 4 to 10 it took 61.  Stop it at any time: make
# study again resumes.  Variables: STUDY (study),
# STUDY_LOSSES, STUDY_MODES, STUDY_SEEDS, STUDY_ITERS (400),
# STUDY_LR_STEPS (300), STUDY_LR (DEMO_LR), STUDY_JOBS (DEMO_JOBS); the
# net, batch and data are the demo's (DEMO_ARCH, DEMO_EMB, DEMO_BATCH,
# DEMO_IDS, ...).

ifndef HM_STUDY_MK
HM_STUDY_MK := 1
include $(dir $(lastword $(MAKEFILE_LIST)))demo.mk

STUDY ?= study
STUDY_LOSSES ?= softmax asoftmax arcface cosface
STUDY_MODES ?= none power:2 powern:2 pivot:2 focaln:2 focal:2 ohem:0.5
STUDY_SEEDS ?= 1 2 3
STUDY_ITERS ?= 400
STUDY_LR_STEPS ?= 300
STUDY_LR ?= $(DEMO_LR)
STUDY_JOBS ?= $(DEMO_JOBS)

# A mode as a file name: power:2 -> power2.
hm_study_tag = $(subst :,,$(1))
HM_STUDY_VARIANTS := $(foreach m,$(STUDY_MODES),$(call hm_study_tag,$(m))) lrmatch
HM_STUDY_RUNS := $(foreach s,$(STUDY_SEEDS),$(foreach l,$(STUDY_LOSSES),\
	$(foreach v,$(HM_STUDY_VARIANTS),$(l)-$(v)-s$(s))))
HM_STUDY_N := $(words $(HM_STUDY_RUNS))

# $(call hm_study_common,LOSS,SEED): the options every run of LOSS, SEED has.
hm_study_common = -a $(DEMO_ARCH) --emb-size $(DEMO_EMB) -b $(DEMO_BATCH) \
	--loss $(1) --iters $(STUDY_ITERS) --lr-steps $(STUDY_LR_STEPS) --seed $(2)

# One run: LOSS, MODE, TAG (the mode's file name), SEED, K (its number).
define hm_study_run_rules
$(STUDY)/$(1)-$(3)-s$(4)/train.opts: hm-FORCE
	$$(call hm_stamp,$$(strip $$(call hm_study_common,$(1),$(4)) --hm $(2) --lr $(STUDY_LR)))

$(STUDY)/$(1)-$(3)-s$(4)/row: $(DEMO)/train.hmr $(STUDY)/$(1)-$(3)-s$(4)/train.opts $(HM_STUDY_TEST) | $(HM_STUDY_TOOLS)
	@echo "study: run $(5) of $(HM_STUDY_N): $(1) --hm $(2), seed $(4)"
	$$(call hm_study_run,$(1)-$(3)-s$(4),$$(@D),$(DEMO)/train.hmr $$(@D)/train.opts)
endef

# The control: the baseline's options at lr x 2 L0, L0 the baseline's first
# logged loss, measured by one iteration of the baseline (the same seed:
# the same initial weights and first batch; 2 s) so that the control need
# not wait for the baseline.  Its train.opts is written by the run's own
# recipe, rewritten only when it changes (a separate rule for it made GNU
# make put every control after all the other runs).
define hm_study_control_rules
$(STUDY)/$(1)-lrmatch-s$(2)/row: $(DEMO)/train.hmr $(HM_STUDY_TEST) | $(HM_STUDY_TOOLS)
	@mkdir -p $$(@D) && rm -rf $$(@D)/l0
	@bin/hm-train -q -j $(DEMO_TRAIN_THREADS) -a $(DEMO_ARCH) --emb-size $(DEMO_EMB) -b $(DEMO_BATCH) \
		--loss $(1) --seed $(2) --lr $(STUDY_LR) --iters 1 -o $$(@D)/l0 $$< > /dev/null
	@awk -F, -v lr=$(STUDY_LR) -v opts='$$(strip $$(call hm_study_common,$(1),$(2))) --hm none' \
		'NR == 2 { printf "%s --lr %.6g\n", opts, lr * 2 * $$$$3; ok = 1 } \
		 END { exit !ok }' $$(@D)/l0/train.csv > $$(@D)/train.opts.tmp
	@rm -rf $$(@D)/l0
	@cd $$(@D) && { cmp -s train.opts.tmp train.opts && rm train.opts.tmp || mv train.opts.tmp train.opts; }
	@echo "study: run $(3) of $(HM_STUDY_N): $(1), no hard mining, lr-matched to power:2 (lr $$$$(sed 's/.* --lr //' $$(@D)/train.opts)), seed $(2)"
	$$(call hm_study_run,$(1)-lrmatch-s$(2),$$(@D),$(DEMO)/train.hmr $$(@D)/train.opts)
endef

HM_STUDY_TEST := $(DEMO)/lfw.hmr pipelines/study.mk
HM_STUDY_TOOLS := bin/hm-train bin/hm-embed bin/hm-verify bin/hm-roc

# $(call hm_study_run,RUN,DIR,INPUTS): one run, in one recipe so that runs
# finish in order.  Trains into DIR unless DIR/trained is newer than each
# of INPUTS (an interrupted training resumes from its checkpoint);
# DIR/trained says "ok", or "diverged: MESSAGE" when the loss or the
# weights stopped being finite (any other failure fails the run).  Then
# the scores (unless diverged) and DIR/row:
#   run,loss,mode,seed,lr,status,accuracy,tar@far=0.001
hm_study_run = @d=$(2); opts=$$(cat $$d/train.opts); \
	fresh=y; for f in $(3); do test $$d/trained -nt $$f || fresh=; done; \
	if test -z "$$fresh"; then \
		rm -f $$d/trained $$d/lfw.scores.csv; \
		resume=; c=$$d/checkpoint.hmm; \
		if test -f $$c; then resume="--resume $$d"; \
			for f in $(3); do test $$c -nt $$f || resume=; done; fi; \
		if bin/hm-train -q -j $(DEMO_TRAIN_THREADS) $$resume $$opts --checkpoint-every 100 \
			-o $$d $(DEMO)/train.hmr > $$d/report.txt 2> $$d/train.err; then \
			echo ok > $$d/trained; \
		elif grep -q "loss is\|no longer finite" $$d/train.err; then \
			echo "diverged: $$(tail -n 1 $$d/train.err)" > $$d/trained; \
			echo "study: $(1) diverged: $$(tail -n 1 $$d/train.err)"; \
		else cat $$d/train.err >&2; exit 1; fi; \
	fi; \
	set -- $$(echo "$$opts" | sed 's/.*--loss \([^ ]*\).*--seed \([^ ]*\).*--hm \([^ ]*\) --lr \([^ ]*\).*/\1 \2 \3 \4/'); \
	mode=$$3; case $(1) in *-lrmatch-*) mode=lrmatch;; esac; \
	pre="$(1),$$1,$$mode,$$2,$$4"; \
	if grep -q ^diverged $$d/trained; then \
		echo "$$pre,diverged,," > $@; \
	else \
		test $$d/lfw.scores.csv -nt $$d/trained || \
		bin/hm-embed -q -j $(DEMO_TRAIN_THREADS) -m $$d/model.hmm $(DEMO)/lfw.hmr | \
			bin/hm-verify -o $$d/lfw.scores.csv $(DEMO)/lfw/$(hm_demo_pairs_name) -; \
		bin/hm-roc --csv --far 1e-3 $$d/lfw.scores.csv | awk -F, -v pre="$$pre,ok" \
			'NR == 1 { for (i = 1; i <= NF; i++) c[$$i] = i; next } \
			 { print pre "," $$c["accuracy"] "," $$c["tar@far=0.001"] }' > $@.tmp; \
		mv $@.tmp $@; \
	fi

# $(call hm_study_index,RUN): RUN's number K in HM_STUDY_RUNS (1..N).
HM_STUDY_NUMBERED := $(shell n=0; for r in $(HM_STUDY_RUNS); do n=$$((n + 1)); echo $$r=$$n; done)
hm_study_index = $(patsubst $(1)=%,%,$(filter $(1)=%,$(HM_STUDY_NUMBERED)))
$(foreach s,$(STUDY_SEEDS),$(foreach l,$(STUDY_LOSSES),$(foreach m,$(STUDY_MODES),\
	$(eval $(call hm_study_run_rules,$(l),$(m),$(call hm_study_tag,$(m)),$(s),$(call hm_study_index,$(l)-$(call hm_study_tag,$(m))-s$(s)))))\
	$(eval $(call hm_study_control_rules,$(l),$(s),$(call hm_study_index,$(l)-lrmatch-s$(s))))))

HM_STUDY_ROWS := $(foreach r,$(HM_STUDY_RUNS),$(STUDY)/$(r)/row)

$(STUDY)/table.md: $(HM_STUDY_ROWS) pipelines/study.awk
	cat $(HM_STUDY_ROWS) | awk -F, -v title='hm study: $(DEMO_IDS) synthetic identities x $(DEMO_IMGS) images at $(DEMO_SIZE), $(DEMO_ARCH), batch $(DEMO_BATCH), $(STUDY_ITERS) iterations (x0.1 after $(STUDY_LR_STEPS)), lr $(STUDY_LR) for every run but the lr-matched controls; seeds $(STUDY_SEEDS)' \
		-f pipelines/study.awk > $@.tmp && mv $@.tmp $@

.PHONY: study study-run
study: all
	@$(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(STUDY_JOBS)) study-run
	@cat $(STUDY)/table.md

study-run: $(STUDY)/table.md

endif
