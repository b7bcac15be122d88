# paper.mk: every row of the results table of "Hard-Mining Loss based
# Convolutional Neural Network for Face Recognition" (Srivastava, Murali,
# Dubey, arXiv 1908.09747) as a make target.
#
# What it reproduces: ResNet-18 (insightface IR-18, 112x112) trained with
# Cross-Entropy (softmax), A-Softmax and ArcFace, each without and with the
# Hard-Mining loss (-hm), on CASIA-WebFace and on MS-Celeb-1M, tested on LFW
# (10-fold accuracy) and YouTube Faces (10 splits): 24 rows, plus CosFace
# rows as this suite's addition.
#
#   make lfw-arcface-hm          CASIA-WebFace training, LFW test
#   make ms1m-ytf-softmax        MS1M training, YTF test
#   make paper                   the paper's 24 rows
#   make table                   the finished rows: RESULTS/PROFILE/table.md
#   make lfw-arcface-hm PROFILE=small   the same stages, a small network
#
# Rows: [ms1m-]{lfw,ytf}-{softmax,asoftmax,arcface,cosface}[-hm].  One
# trained model serves the LFW and the YTF row that share it, and the
# CFP-FP and AgeDB-30 rows ([ms1m-]{cfpfp,agedb}-LOSS[-hm]) beyond the paper.
#
# insightface bundles: CASIA=faces_webface_112x112 (a folder holding
# train.rec) with no LFW tree makes the LFW rows test on its lfw.bin, and
# the cfpfp and agedb rows on its cfp_fp.bin and agedb_30.bin; LFW=FILE.bin
# works with any training set.  Pairs and folds are the .bin's (10).
#
# Data: CASIA, MS1M, LFW (+ LFW_LANDMARKS, LFW_PAIRS), YTF (+ YTF_LANDMARKS,
# YTF_SPLITS); see data.mk.  What a requested row needs and lacks is
# reported before anything runs (make exits 2), with the expected layout
# and where the data set is published; make -n reports it too and prints
# the recipe.
#
# Recipe: the reference recipes', each constant with its source in hm(7),
# Profiles; where the paper is silent they decide.
#   batch 64 (HM_BATCH): the paper's.
#   lr = 0.1 x HM_BATCH / 512 (HM_BASE_LR 0.1; 0.0125 at 64): insightface's
#     arcface_torch ("config.lr = 0.1  # batch size is 512"; its train.py
#     scales the rate by the global batch / 512).  hm-train's -b is the
#     global batch, so HM_BATCH or the number of MPI ranks changes the rate
#     with the batch and keeps the reference's step per sample.
#   --clip-grad 5 (HM_CLIP): arcface_torch's train.py clips the backbone's
#     gradient norm at 5 (clip_grad_norm_(backbone.parameters(), 5)).
#   SGD momentum 0.9, weight decay 5e-4 (hm-train's defaults), no warm-up:
#     arcface_torch's config.py (warmup_epoch -1).
#   CASIA-WebFace: 34 epochs, x0.1 after 20, 28, 32 (arcface_torch's
#     "webface" config; SphereFace, 28k iterations of 256 with steps at 16k
#     and 24k, is the same length to within 7%).  MS1M (faces_emore): 16
#     epochs, x0.1 after 8, 14 (arcface_torch's "emore" config).
#   hm-train's loss constants (arcface s 64 m 0.5, cosface s 64 m 0.35,
#   asoftmax m 4 with SphereFace's lambda schedule, its embedding scale
#   trained), flip-sum embeddings.
# -hm rows add --hm HM_MINING (default powern:2: in make study no reading
# helps every loss, and powern:2 is the most faithful one; see README) and
# nothing else: the same rate, schedule and seed as their baseline, so that
# a difference is hard mining's.  (The literal power:2, HM_MINING=power:2,
# multiplies each sample's gradient by 2 L_i, a 12x to 90x rate at the
# start.  An earlier profile gave -hm rows lr 0.01 against 0.1, which mixed
# the rate into every difference.)
#
# Profiles: PROFILE=paper (default): ir18, 512-d embeddings, the recipe
# above.  PROFILE=small: the same recipe (rate scaling, clipping, the
# schedule's shape: x0.1 at 20/34, 28/34 and 32/34 of the run) on
# ir:1,1,1,1:16,32,64,128, 128-d, 2000 iterations (SMALL_ITERS; steps
# 1176, 1647, 1882): the same stages on a laptop, a dry run of a paper row.
#
# Files, for a row using training set T, variant V (loss[-hm]), test S:
#   RESULTS/data/T.hmr, S.hmr                 packs (data.mk)
#   RESULTS/PROFILE/T-V/train.opts            the hm-train options
#   RESULTS/PROFILE/T-V/model.hmm             + checkpoint.hmm, train.csv,
#                                             val.csv (each epoch on the
#                                             image-pair test sets asked for)
#   RESULTS/PROFILE/T-V/S.emb.hmr             flip-sum embeddings
#   RESULTS/PROFILE/T-V/S.scores.csv          fold,same,score,a,b
#   RESULTS/PROFILE/{table.md,lfw.csv,ytf.csv,lfw-roc.svg,ytf-roc.svg}
# Each stage is a file target; a training that was interrupted (Ctrl-C, a
# kill, a crash) resumes from its checkpoint on the next make.
#
# What to expect: LFW accuracies in the high nineties for CASIA-WebFace
# training (the paper's table; ArcFace highest), lower on YTF.  Time: on a
# 2-core machine an IR-18 trains at about 4 to 17 images per second
# (PyTorch 1.13 on 2 threads: 4.3; the bound at 15.6 GFLOP per training
# image and a 270 GFLOP/s sgemm: 17), so one CASIA-WebFace model (24 epochs
# of 0.49M images) takes one to four weeks: run paper rows on a larger
# machine, or PROFILE=small to try the stages.

ifndef HM_PAPER_MK
HM_PAPER_MK := 1
include $(dir $(lastword $(MAKEFILE_LIST)))data.mk

PROFILE ?= paper
HM_P := $(RESULTS)/$(PROFILE)

HM_BATCH ?= 64
HM_BASE_LR ?= 0.1
HM_LR ?= $(shell awk 'BEGIN { printf "%.6g", $(HM_BASE_LR) * $(HM_BATCH) / 512 }')
HM_CLIP ?= 5
HM_MINING ?= powern:2
HM_TRAIN_FLAGS ?=
CASIA_EPOCHS ?= 34
CASIA_LR_STEPS ?= 20,28,32
MS1M_EPOCHS ?= 16
MS1M_LR_STEPS ?= 8,14
SMALL_ITERS ?= 2000
SMALL_LR_STEPS ?= $(shell awk 'BEGIN { n = $(SMALL_ITERS); printf "%d,%d,%d", n * 20 / 34, n * 28 / 34, n * 32 / 34 }')
ifeq ($(PROFILE),small)
HM_ARCH ?= ir:1,1,1,1:16,32,64,128
HM_EMB ?= 128
HM_CKPT_EVERY ?= 200
HM_LENGTH_casia = --iters $(SMALL_ITERS) --lr-steps $(SMALL_LR_STEPS)
HM_LENGTH_ms1m = --iters $(SMALL_ITERS) --lr-steps $(SMALL_LR_STEPS)
else
HM_ARCH ?= ir18
HM_EMB ?= 512
HM_CKPT_EVERY ?= 1000
HM_LENGTH_casia = --epochs $(CASIA_EPOCHS) --lr-steps $(CASIA_LR_STEPS)
HM_LENGTH_ms1m = --epochs $(MS1M_EPOCHS) --lr-steps $(MS1M_LR_STEPS)
endif

HM_PAPER_LOSSES := softmax asoftmax arcface
HM_LOSSES := $(HM_PAPER_LOSSES) cosface
hm_variants = $(foreach l,$(1),$(l) $(l)-hm)
# $(call hm_row,TRAIN,TEST,VARIANT): the row's target name.
hm_row = $(if $(filter ms1m,$(1)),ms1m-)$(2)-$(3)
hm_rows = $(foreach tr,casia ms1m,$(foreach te,lfw ytf,$(foreach v,$(call hm_variants,$(1)),$(call hm_row,$(tr),$(te),$(v)))))
PAPER_ROWS := $(call hm_rows,$(HM_PAPER_LOSSES))
HM_ROWS := $(call hm_rows,$(HM_LOSSES))
# Beyond the paper: the other verification sets insightface's bundles carry
# (cfp_fp.bin, agedb_30.bin), 10 folds each, on the same models:
# [ms1m-]{cfpfp,agedb}-LOSS[-hm].
HM_BIN_TESTS := cfpfp agedb
HM_BIN_ROWS := $(foreach tr,casia ms1m,$(foreach te,$(HM_BIN_TESTS),$(foreach v,$(call hm_variants,$(HM_LOSSES)),$(call hm_row,$(tr),$(te),$(v)))))

# $(call hm_train_opts,TRAIN,VARIANT): the options that define the run.
hm_train_opts = -a $(HM_ARCH) --emb-size $(HM_EMB) -b $(HM_BATCH) \
	--loss $(patsubst %-hm,%,$(2)) $(HM_LENGTH_$(1)) \
	$(if $(filter %-hm,$(2)),--hm $(HM_MINING)) --lr $(HM_LR) \
	$(if $(filter-out 0,$(HM_CLIP)),--clip-grad $(HM_CLIP))

# The trainings validate each epoch (hm-train --val, DIR/val.csv) on the
# test sets of the rows asked for that pair images: LFW, CFP-FP, AgeDB-30
# (YTF pairs videos).  The packs are order-only prerequisites: --val does
# not change the model, so another set of rows retrains nothing.
hm_val_tests := $(sort $(foreach te,lfw cfpfp agedb,$(if $(filter $(te)-% ms1m-$(te)-%,$(MAKECMDGOALS)),$(te))) $(if $(filter paper,$(MAKECMDGOALS)),lfw))
hm_val_flags = $(foreach te,$(hm_val_tests),--val $(HM_DATA)/$(te).hmr --val-pairs $(hm_pairs_$(te)))
hm_val_packs = $(foreach te,$(hm_val_tests),$(HM_DATA)/$(te).hmr $(hm_pairs_$(te)))

# One model: TRAIN, VARIANT.
define hm_model_rules
$(HM_P)/$(1)-$(2)/train.opts: hm-FORCE
	$$(call hm_stamp,$$(strip $$(call hm_train_opts,$(1),$(2))))

$(HM_P)/$(1)-$(2)/model.hmm: $(HM_DATA)/$(1).hmr $(HM_P)/$(1)-$(2)/train.opts | bin/hm-train $$(hm_val_packs)
	bin/hm-train $$(call hm_resume_if,$$(@D),$$^) $$(strip $$(call hm_train_opts,$(1),$(2))) \
		--checkpoint-every $$(HM_CKPT_EVERY) $$(HM_TRAIN_FLAGS) $$(hm_val_flags) -o $$(@D) $$<
endef

hm_pairs_ytf = $(YTF_SPLITS)
hm_pairs_lfw = $(if $(HM_LFW_BIN),$(HM_DATA)/lfw.pairs.csv,$(LFW_PAIRS))
hm_pairs_cfpfp = $(HM_DATA)/cfpfp.pairs.csv
hm_pairs_agedb = $(HM_DATA)/agedb.pairs.csv

# One row: TRAIN, VARIANT, TEST.
define hm_row_rules
$(HM_P)/$(1)-$(2)/$(3).emb.hmr: $(HM_P)/$(1)-$(2)/model.hmm $(HM_DATA)/$(3).hmr | bin/hm-embed
	bin/hm-embed -m $$< $(HM_DATA)/$(3).hmr > $$@.tmp && mv $$@.tmp $$@

$(HM_P)/$(1)-$(2)/$(3).scores.csv: $(HM_P)/$(1)-$(2)/$(3).emb.hmr $$(hm_pairs_$(3)) | bin/hm-verify
	bin/hm-verify -o $$@ $$(hm_pairs_$(3)) $$<

.PHONY: $(call hm_row,$(1),$(3),$(2))
$(call hm_row,$(1),$(3),$(2)): $(HM_P)/$(1)-$(2)/$(3).scores.csv | bin/hm-roc
	@bin/hm-roc --label $(PROFILE):$(call hm_row,$(1),$(3),$(2)) $$<
endef

$(foreach tr,casia ms1m,$(foreach v,$(call hm_variants,$(HM_LOSSES)),\
	$(eval $(call hm_model_rules,$(tr),$(v)))\
	$(foreach te,lfw ytf $(HM_BIN_TESTS),$(eval $(call hm_row_rules,$(tr),$(v),$(te))))))

.PHONY: paper table
paper: $(PAPER_ROWS)

# Stop before any work when a requested row lacks data or the profile is
# unknown.
HM_GOALS := $(filter $(HM_ROWS) $(HM_BIN_ROWS) paper,$(MAKECMDGOALS))
ifneq ($(HM_GOALS),)
ifeq ($(filter paper small,$(PROFILE)),)
$(error PROFILE must be paper or small, not '$(PROFILE)')
endif
HM_NEED := $(if $(filter-out ms1m-%,$(HM_GOALS)),casia) \
	$(if $(filter ms1m-% paper,$(HM_GOALS)),ms1m) \
	$(if $(filter lfw-% ms1m-lfw-% paper,$(HM_GOALS)),lfw) \
	$(if $(filter ytf-% ms1m-ytf-% paper,$(HM_GOALS)),ytf) \
	$(foreach te,$(HM_BIN_TESTS),$(if $(filter $(te)-% ms1m-$(te)-%,$(HM_GOALS)),$(te)))
$(call hm_check_data,$(HM_NEED),$(HM_GOALS))
endif

# The table: every finished row of the profile, per test set an hm-roc CSV
# (every measure in full precision) and an ROC plot, then table.md.  Always
# remade, so rows that finished or were removed since show up.
hm_finished = $(sort $(wildcard $(HM_P)/*/$(1).scores.csv))
hm_label_of = $(notdir $(patsubst %/,%,$(dir $(1))))
HM_TABLE_TESTS := $(strip $(foreach te,lfw ytf $(HM_BIN_TESTS),$(if $(call hm_finished,$(te)),$(te))))

ifneq ($(filter table,$(MAKECMDGOALS)),)
ifeq ($(HM_TABLE_TESTS),)
$(error no finished rows in $(HM_P) (no */lfw.scores.csv or */ytf.scores.csv); make a row first, e.g. make lfw-arcface-hm PROFILE=$(PROFILE))
endif
endif

define hm_table_rules
$(HM_P)/$(1).csv: hm-FORCE | bin/hm-roc
	bin/hm-roc --csv -o $$@ --svg $(HM_P)/$(1)-roc.svg \
		$$(foreach f,$$(call hm_finished,$(1)),--label $$(call hm_label_of,$$(f))) \
		$$(call hm_finished,$(1))
endef
$(foreach te,lfw ytf $(HM_BIN_TESTS),$(eval $(call hm_table_rules,$(te))))

# Each finished row's label, --hm mode and --lr, from the train.opts its
# model was trained with (the table states them).
$(HM_P)/runs.txt: hm-FORCE
	@for d in $(sort $(dir $(foreach te,$(HM_TABLE_TESTS),$(call hm_finished,$(te))))); do \
		o=$$(cat $$d/train.opts); \
		m=$$(echo " $$o " | sed -n 's/.* --hm \([^ ]*\) .*/\1/p'); \
		echo "$$(basename $$d) $${m:-none} $$(echo " $$o " | sed -n 's/.* --lr \([^ ]*\) .*/\1/p')"; \
	done > $@

$(HM_P)/table.md: $(foreach te,$(HM_TABLE_TESTS),$(HM_P)/$(te).csv) $(HM_P)/runs.txt pipelines/table.awk
	$(foreach te,$(HM_TABLE_TESTS),hm_data_$(te)="$$(cat $(HM_DATA)/$(te).src 2>/dev/null || :)") \
	awk -v title='hm results, PROFILE=$(PROFILE) ($(HM_P))' -v runs=$(HM_P)/runs.txt \
		-f pipelines/table.awk $(filter %.csv,$^) > $@.tmp && mv $@.tmp $@

# Training curves: one SVG per training set and loss, its baseline and its
# -hm run in one plot (hm-plot pairs their styles), for every model trained.
hm_trained = $(patsubst %/train.csv,%,$(wildcard $(HM_P)/*/train.csv))
hm_curve_groups = $(sort $(patsubst %-hm,%,$(notdir $(hm_trained))))
hm_curves_of = $(filter $(HM_P)/$(1),$(hm_trained)) $(filter $(HM_P)/$(1)-hm,$(hm_trained))

.PHONY: curves
curves: | bin/hm-plot
	$(foreach g,$(hm_curve_groups),bin/hm-plot --title '$(PROFILE): $(g)' -o $(HM_P)/$(g)-curves.svg $(call hm_curves_of,$(g)) &&) :

table: $(HM_P)/table.md curves
	@cat $<
	@echo "Training curves: $(foreach g,$(hm_curve_groups),$(HM_P)/$(g)-curves.svg)"
	@echo "ROC plots: $(foreach te,$(HM_TABLE_TESTS),$(HM_P)/$(te)-roc.svg)"

endif
