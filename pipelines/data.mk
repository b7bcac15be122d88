# data.mk: where the paper targets (paper.mk) find their data, the checks
# that stop a run before any work when something is missing, and the packs
# every row shares.  Included by the main Makefile (and by paper.mk and
# demo.mk, guarded), so every name here is prefixed or is one of the
# documented user variables below; hm(7) lists them all.
#
# Data variables (make VAR=path; paths without spaces):
#   CASIA          data/casia: an image tree CASIA/ID/NNN.jpg with its landmark
#                  file CASIA_LANDMARKS (default CASIA/landmarks.txt, lines
#                  'path label x1 y1 ... x5 y5' as sphereface's
#                  casia_landmark.txt or hm-synth's), or insightface's
#                  pre-aligned faces_webface_112x112: a folder holding
#                  train.rec and train.idx, or the .rec file itself
#   MS1M           data/faces_emore: insightface's MS1M-ArcFace, a folder
#                  holding train.rec and train.idx, or the .rec file itself
#   LFW            data/lfw: LFW/Name/Name_0001.jpg, or insightface's
#                  lfw.bin; with no LFW tree, the lfw.bin of the CASIA (else
#                  MS1M) bundle folder
#   LFW_LANDMARKS  LFW/landmarks.txt if present (hm-synth writes it), else
#                  data/lfw_landmark.txt
#   LFW_PAIRS      LFW/pairs.txt if present, else data/pairs.txt
#   YTF            data/ytf: frame folders YTF/Name/video/frame.jpg
#   YTF_LANDMARKS  YTF/landmarks.txt (five points per frame, e.g. MTCNN's)
#   YTF_ALIGN      landmarks, boxes or center: see below
#   YTF_CENTER_CROP  0.4545: the face box of aligned_images_DB's frames
#   YTF_SPLITS     YTF/splits.txt if present, else data/splits.txt
#   CFP_FP         insightface's cfp_fp.bin (CFP frontal-profile pairs);
#                  default: cfp_fp.bin of the CASIA (else MS1M) bundle folder
#   AGEDB          insightface's agedb_30.bin (AgeDB-30); default:
#                  agedb_30.bin of the CASIA (else MS1M) bundle folder
#   RESULTS        results: packs go to RESULTS/data, rows to RESULTS/PROFILE
# The defaults data/lfw_landmark.txt, data/pairs.txt and data/splits.txt are
# the public protocol files kept in the repository (HM_PROTOCOLS);
# data/README.md says what each is and where it was published.
#
# Packs (file targets): RESULTS/data/{casia,ms1m}.hmr (+ .hmi) for training,
# RESULTS/data/{lfw,ytf,cfpfp,agedb}.hmr for testing (a pack made of an
# insightface .bin has its pair list NAME.pairs.csv, insightface's 10
# folds, beside it), all aligned to insightface's
# 112x112 template (the .rec sets come aligned).  RESULTS/data/NAME.src holds
# the source paths a pack was made from; pointing a variable elsewhere
# remakes the pack and everything trained or tested on it.

ifndef HM_DATA_MK
HM_DATA_MK := 1

# Pipelines need bash and stop a pipe at its first failing stage.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
.DELETE_ON_ERROR:

HM_PROTOCOLS := data
RESULTS ?= results
HM_DATA := $(RESULTS)/data

CASIA ?= data/casia
CASIA_LANDMARKS ?= $(CASIA)/landmarks.txt
MS1M ?= data/faces_emore
LFW ?= data/lfw
LFW_LANDMARKS ?= $(firstword $(wildcard $(LFW)/landmarks.txt) $(HM_PROTOCOLS)/lfw_landmark.txt)
LFW_PAIRS ?= $(firstword $(wildcard $(LFW)/pairs.txt) $(HM_PROTOCOLS)/pairs.txt)
YTF ?= data/ytf
YTF_LANDMARKS ?= $(YTF)/landmarks.txt
YTF_SPLITS ?= $(firstword $(wildcard $(YTF)/splits.txt) $(HM_PROTOCOLS)/splits.txt)

# $(call hm_q,TEXT): TEXT inside single quotes for the shell.
hm_q = $(subst ','\'',$(1))
# $(call hm_rec,PATH): the RecordIO file PATH names (PATH.rec or PATH/train.rec).
hm_rec = $(if $(filter %.rec,$(1)),$(wildcard $(1)),$(wildcard $(1)/train.rec))
hm_isdir = $(wildcard $(1)/.)
# $(call hm_bundle_bin,FILE): FILE (lfw.bin, cfp_fp.bin, agedb_30.bin) in
# the folder of the CASIA RecordIO set, else of the MS1M one: insightface's
# bundles (faces_webface_112x112, faces_emore) carry their test sets.
hm_bundle_bin = $(firstword $(foreach s,$(CASIA) $(MS1M),$(if $(call hm_rec,$(s)),$(wildcard $(patsubst %/,%,$(dir $(call hm_rec,$(s))))/$(1)))))
# The .bin the LFW rows test on: LFW=FILE.bin, else, with no LFW tree, the
# bundle's lfw.bin; empty: the LFW tree with landmarks and pairs.txt.
HM_LFW_BIN = $(if $(filter %.bin,$(LFW)),$(wildcard $(LFW)),$(if $(call hm_isdir,$(LFW)),,$(call hm_bundle_bin,lfw.bin)))
# YouTube Faces as published has no landmarks.  YTF_ALIGN: landmarks
# (YTF_LANDMARKS), boxes (frame_images_DB/NAME.labeled_faces.txt, a face box
# per frame; YTF names frame_images_DB or the folder holding it) or center
# (aligned_images_DB's pre-cropped frames: the centred box of
# YTF_CENTER_CROP times the shorter side, 1/2.2 as YTF cropped them).
# Default: the first of the three the data has.
HM_YTF_BOXES = $(patsubst %/,%,$(dir $(firstword $(wildcard $(YTF)/frame_images_DB/*.labeled_faces.txt $(YTF)/*.labeled_faces.txt))))
HM_YTF_ALIGNED = $(if $(call hm_isdir,$(YTF)/aligned_images_DB),$(YTF)/aligned_images_DB,$(if $(filter aligned_images_DB,$(notdir $(patsubst %/,%,$(YTF)))),$(YTF)))
YTF_ALIGN ?= $(if $(wildcard $(YTF_LANDMARKS)),landmarks,$(if $(HM_YTF_BOXES),boxes,$(if $(HM_YTF_ALIGNED),center,landmarks)))
YTF_CENTER_CROP ?= 0.4545
CFP_FP ?= $(call hm_bundle_bin,cfp_fp.bin)
AGEDB ?= $(call hm_bundle_bin,agedb_30.bin)

HM_ZOO := https://github.com/deepinsight/insightface/tree/master/recognition/_datasets_
HM_PUB_casia := CASIA-WebFace (Yi et al., arXiv 1411.7923) from the Chinese Academy of Sciences on request; pre-aligned as faces_webface_112x112 in insightface's dataset zoo, $(HM_ZOO)
HM_PUB_ms1m := MS1M-ArcFace (faces_emore, MS-Celeb-1M cleaned by insightface) in insightface's dataset zoo, $(HM_ZOO)
HM_PUB_lfw := LFW at http://vis-www.cs.umass.edu/lfw/ (lfw.tgz; pairs.txt)
HM_PUB_cfpfp := CFP (Sengupta et al., WACV 2016, http://www.cfpw.io/) frontal-profile pairs as cfp_fp.bin in insightface's faces_webface_112x112 and faces_emore, $(HM_ZOO)
HM_PUB_agedb := AgeDB (Moschoglou et al., CVPR-W 2017) as agedb_30.bin in insightface's faces_webface_112x112 and faces_emore, $(HM_ZOO)
HM_PUB_ytf := YouTube Faces at https://www.cs.tau.ac.il/~wolf/ytfaces/ (frame_images_DB; splits.txt)

HM_LAYOUT_casia := an image tree CASIA/ID/NNN.jpg with its landmark file CASIA_LANDMARKS (default CASIA/landmarks.txt: path, label, x1 y1 ... x5 y5 per line), or insightface's faces_webface_112x112 (CASIA=folder holding train.rec and train.idx, or the .rec file)
HM_LAYOUT_ms1m := insightface's faces_emore (MS1M=folder holding train.rec and train.idx, or the .rec file)
HM_LAYOUT_lfw := an image tree LFW/Name/Name_0001.jpg, its landmarks LFW_LANDMARKS (path x1 y1 ... x5 y5 per line; default LFW/landmarks.txt, else $(HM_PROTOCOLS)/lfw_landmark.txt) and its pair list LFW_PAIRS (default LFW/pairs.txt, else $(HM_PROTOCOLS)/pairs.txt)
HM_LAYOUT_lfw := $(HM_LAYOUT_lfw); or insightface's lfw.bin (LFW=FILE.bin; with no LFW tree, the lfw.bin beside CASIA's or MS1M's train.rec)
HM_LAYOUT_cfpfp := insightface's cfp_fp.bin (CFP_FP=FILE.bin; default: cfp_fp.bin beside CASIA's or MS1M's train.rec)
HM_LAYOUT_agedb := insightface's agedb_30.bin (AGEDB=FILE.bin; default: agedb_30.bin beside CASIA's or MS1M's train.rec)
HM_LAYOUT_ytf := frame folders YTF/Name/video/frame.jpg, their landmarks YTF_LANDMARKS (path x1 y1 ... x5 y5 per frame; default YTF/landmarks.txt) and the split list YTF_SPLITS (default YTF/splits.txt, else $(HM_PROTOCOLS)/splits.txt)
HM_LAYOUT_ytf := $(HM_LAYOUT_ytf); or YouTube Faces as published, no landmarks: YTF/frame_images_DB/Name/video/N.jpg with Name.labeled_faces.txt (face boxes), or YTF/aligned_images_DB/Name/video/aligned_detect_N.jpg (YTF_ALIGN picks; default: landmarks, boxes, center, the first there)

# What is wrong with each data set: empty when it is usable, else one
# "hm: VARIABLE: what is missing\n" line per problem (printf %b text).
HM_BAD_casia = $(if $(call hm_rec,$(CASIA)),,$(if $(call hm_isdir,$(CASIA)),$(if $(wildcard $(CASIA_LANDMARKS)),,hm: CASIA_LANDMARKS: no landmark file '$(CASIA_LANDMARKS)' (and no train.rec in '$(CASIA)')\n),hm: CASIA: no training data at '$(CASIA)'\n))
HM_BAD_ms1m = $(if $(call hm_rec,$(MS1M)),,hm: MS1M: no RecordIO file at '$(MS1M)' (nor '$(MS1M)/train.rec')\n)
HM_BAD_lfw = $(if $(filter %.bin,$(LFW)),$(if $(HM_LFW_BIN),,hm: LFW: no .bin file at '$(LFW)'\n),$(if $(HM_LFW_BIN),,$(if $(call hm_isdir,$(LFW)),,hm: LFW: no image tree at '$(LFW)' (and no lfw.bin beside a CASIA or MS1M train.rec)\n)$(if $(wildcard $(LFW_LANDMARKS)),,hm: LFW_LANDMARKS: no landmark file '$(LFW_LANDMARKS)' ($(HM_PROTOCOLS)/lfw_landmark.txt has MTCNN's five points for all 13233 LFW images, from github.com/clcarwin/sphereface_pytorch; see $(HM_PROTOCOLS)/README.md)\n)$(if $(wildcard $(LFW_PAIRS)),,hm: LFW_PAIRS: no pair list '$(LFW_PAIRS)'\n)))
HM_BAD_cfpfp = $(if $(wildcard $(CFP_FP)),,hm: CFP_FP: $(if $(CFP_FP),no .bin file at '$(CFP_FP)',no cfp_fp.bin beside a CASIA or MS1M train.rec)\n)
HM_BAD_agedb = $(if $(wildcard $(AGEDB)),,hm: AGEDB: $(if $(AGEDB),no .bin file at '$(AGEDB)',no agedb_30.bin beside a CASIA or MS1M train.rec)\n)
HM_BAD_ytf = $(if $(call hm_isdir,$(YTF)),,hm: YTF: no frame folders at '$(YTF)'\n)$(if $(filter-out landmarks boxes center,$(YTF_ALIGN)),hm: YTF_ALIGN: '$(YTF_ALIGN)' is not landmarks or boxes or center\n)$(if $(filter landmarks,$(YTF_ALIGN)),$(if $(wildcard $(YTF_LANDMARKS)),,hm: YTF_LANDMARKS: no landmark file '$(YTF_LANDMARKS)' (nor face boxes frame_images_DB/NAME.labeled_faces.txt or aligned_images_DB in '$(YTF)')\n))$(if $(filter boxes,$(YTF_ALIGN)),$(if $(HM_YTF_BOXES),,hm: YTF: no NAME.labeled_faces.txt in '$(YTF)/frame_images_DB' (YTF_ALIGN=boxes)\n))$(if $(filter center,$(YTF_ALIGN)),$(if $(HM_YTF_ALIGNED),,hm: YTF: no aligned_images_DB in '$(YTF)' (YTF_ALIGN=center)\n))$(if $(wildcard $(YTF_SPLITS)),,hm: YTF_SPLITS: no split list '$(YTF_SPLITS)'\n)

# $(call hm_missing,SET): the message for SET (casia, ms1m, lfw, ytf) as
# printf %b text, empty when SET is usable.
hm_missing = $(if $(HM_BAD_$(1)),$(HM_BAD_$(1))hm:   expected: $(HM_LAYOUT_$(1))\nhm:   published: $(HM_PUB_$(1))\nhm:   set $(HM_VAR_$(1))=PATH (and the variables above) on the make command line)
HM_VAR_casia := CASIA
HM_VAR_ms1m := MS1M
HM_VAR_lfw := LFW
HM_VAR_ytf := YTF
HM_VAR_cfpfp := CFP_FP
HM_VAR_agedb := AGEDB

# make -n: MAKEFLAGS' first word holds the one-letter flags (no dash).
HM_DRY_RUN := $(findstring n,$(filter-out -%,$(firstword $(MAKEFLAGS))))

# $(call hm_check_data,SETS,GOALS): at parse time, report every missing set
# of SETS on standard error and stop (make exits 2) before any recipe runs.
# Under make -n the report is a warning and the recipe is printed: a user
# previews the commands before downloading the data.
hm_check_data = $(if $(strip $(foreach s,$(1),$(call hm_missing,$(s)))),$(foreach s,$(1),$(if $(call hm_missing,$(s)),$(shell printf '%b\n' '$(call hm_q,$(call hm_missing,$(s)))' >&2)))$(if $(HM_DRY_RUN),$(shell echo 'hm: make -n: $(2) would stop here for missing data; the commands it would run:' >&2),$(error missing data for $(2); nothing was run)))

# The sources of a pack (and, for the test sets, the pair list its scores
# use), as one line; the .src stamp changes, and the pack and everything made
# from it are remade, only when it does.  The recipe repeats the check for
# anyone who asks for a pack or a model file directly.
hm_src_casia = $(or $(call hm_rec,$(CASIA)),$(CASIA) $(CASIA_LANDMARKS))
hm_src_ms1m = $(call hm_rec,$(MS1M))
hm_src_lfw = $(if $(HM_LFW_BIN),$(HM_LFW_BIN) (insightface .bin: its pairs and 10 folds),$(LFW) $(LFW_LANDMARKS) $(LFW_PAIRS))
hm_src_cfpfp = $(CFP_FP) (insightface .bin: its pairs and 10 folds)
hm_src_agedb = $(AGEDB) (insightface .bin: its pairs and 10 folds)
hm_src_ytf = $(YTF) $(YTF_ALIGN) $(if $(filter landmarks,$(YTF_ALIGN)),$(YTF_LANDMARKS))$(if $(filter center,$(YTF_ALIGN)),$(YTF_CENTER_CROP)) $(YTF_SPLITS)

# $(call hm_resume_if,DIR,FILES): --resume DIR when DIR/checkpoint.hmm is
# newer than each of FILES (the pack and the options: a run on other data or
# with other options starts again).
hm_resume_if = $(if $(shell c=$(1)/checkpoint.hmm; test -f $$c && \
	for f in $(2); do test $$c -nt $$f || exit 0; done && echo y),--resume $(1))

.PHONY: hm-FORCE
hm-FORCE:

# $(call hm_stamp,TEXT): a recipe line writing TEXT to $@ only when it
# changed, so that targets depending on $@ (a hm-FORCE target) are remade
# exactly when their options or sources change.
hm_stamp = @mkdir -p $(@D) && echo '$(call hm_q,$(1))' | cmp -s - $@ || echo '$(call hm_q,$(1))' > $@

$(HM_DATA)/%.src: hm-FORCE
	$(if $(HM_DRY_RUN),,@$(if $(call hm_missing,$*),printf '%b\n' '$(call hm_q,$(call hm_missing,$*))' >&2; exit 2))
	$(call hm_stamp,$(hm_src_$*))

# Training packs: an aligned tree goes through hm-align, a RecordIO file is
# imported as it is (insightface's sets are aligned to 112x112 already).
$(HM_DATA)/casia.hmr: $(HM_DATA)/casia.src | bin/hm-align bin/hm-pack
	$(if $(call hm_rec,$(CASIA)),bin/hm-pack -o $@ $(call hm_rec,$(CASIA)),bin/hm-align --root $(CASIA) $(CASIA_LANDMARKS) | bin/hm-pack -o $@ -)

$(HM_DATA)/ms1m.hmr: $(HM_DATA)/ms1m.src | bin/hm-pack
	bin/hm-pack -o $@ $(call hm_rec,$(MS1M))

# Test packs: aligned image records (keys Name/Name_0001, Name/video/frame).
# An insightface .bin is imported as it is (aligned to 112x112, keys bin/I)
# with its pair list NAME.pairs.csv.
$(HM_DATA)/lfw.hmr: $(HM_DATA)/lfw.src | bin/hm-align bin/hm-pack
	$(if $(HM_LFW_BIN),bin/hm-pack -o $@ $(HM_LFW_BIN),bin/hm-align --root $(LFW) $(LFW_LANDMARKS) | bin/hm-pack -o $@ -)

$(HM_DATA)/cfpfp.hmr: $(HM_DATA)/cfpfp.src | bin/hm-pack
	bin/hm-pack -o $@ $(CFP_FP)

$(HM_DATA)/agedb.hmr: $(HM_DATA)/agedb.src | bin/hm-pack
	bin/hm-pack -o $@ $(AGEDB)

$(HM_DATA)/%.pairs.csv: $(HM_DATA)/%.hmr ;

# YTF by YTF_ALIGN: five landmarks per frame, YTF's face boxes, or a centre
# crop of aligned_images_DB (hm-align(1) says how a box becomes a crop).
hm_ytf_align_landmarks = bin/hm-align --root $(YTF) $(YTF_LANDMARKS)
hm_ytf_align_boxes = cat $(HM_YTF_BOXES)/*.labeled_faces.txt | bin/hm-align --format ytf --root $(HM_YTF_BOXES) -
hm_ytf_align_center = (cd $(HM_YTF_ALIGNED) && find . -name '*.jpg' | LC_ALL=C sort) | bin/hm-align --center-crop $(YTF_CENTER_CROP) --root $(HM_YTF_ALIGNED) -
$(HM_DATA)/ytf.hmr: $(HM_DATA)/ytf.src | bin/hm-align bin/hm-pack
	$(hm_ytf_align_$(YTF_ALIGN)) | bin/hm-pack -o $@ -

# Synthetic stand-ins for the demo (demo.mk): hm-synth renders a
# CASIA-shaped training tree and an LFW-shaped test tree for the pair list
# DEMO_LFW_PAIRS, hm-align aligns both to the insightface template scaled to
# DEMO_SIZE, hm-pack packs them.
#   DEMO             demo: the output folder
#   DEMO_IDS         500 training identities, DEMO_IMGS 20 images each
#   DEMO_DIFFICULTY  0.9 nuisance, DEMO_LOOKALIKE 0.3 look-alike identities
#                    (both sets), DEMO_DATA_SEED 1
#   DEMO_LFW_PAIRS   data/pairs.txt: the real LFW list, 6000 pairs of
#                    7701 images
#   DEMO_SIZE        32x32 aligned faces
DEMO ?= demo
DEMO_IDS ?= 500
DEMO_IMGS ?= 20
DEMO_DIFFICULTY ?= 0.9
DEMO_LOOKALIKE ?= 0.3
DEMO_DATA_SEED ?= 1
DEMO_LFW_PAIRS ?= $(HM_PROTOCOLS)/pairs.txt
DEMO_SIZE ?= 32x32

hm_demo_nuisance = --difficulty $(DEMO_DIFFICULTY) --lookalike $(DEMO_LOOKALIKE) --seed $(DEMO_DATA_SEED)
hm_demo_casia_opts = --kind casia --identities $(DEMO_IDS) --images-per-id $(DEMO_IMGS) $(hm_demo_nuisance)
hm_demo_lfw_opts = --kind lfw --pairs-from $(DEMO_LFW_PAIRS) $(hm_demo_nuisance)

$(DEMO)/casia.opts: hm-FORCE
	$(call hm_stamp,$(hm_demo_casia_opts))
$(DEMO)/lfw.opts: hm-FORCE
	$(call hm_stamp,$(hm_demo_lfw_opts))
$(DEMO)/align.opts: hm-FORCE
	$(call hm_stamp,--size $(DEMO_SIZE))

$(DEMO)/casia/landmarks.txt: $(DEMO)/casia.opts | bin/hm-synth
	bin/hm-synth -q $(hm_demo_casia_opts) -o $(DEMO)/casia

$(DEMO)/lfw/landmarks.txt: $(DEMO)/lfw.opts $(DEMO_LFW_PAIRS) | bin/hm-synth
	bin/hm-synth -q $(hm_demo_lfw_opts) -o $(DEMO)/lfw

# The casia landmark file carries each image's identity: the record labels.
$(DEMO)/train.hmr: $(DEMO)/casia/landmarks.txt $(DEMO)/align.opts | bin/hm-align bin/hm-pack
	bin/hm-align -q --size $(DEMO_SIZE) --root $(DEMO)/casia $< | bin/hm-pack -q -o $@ -

$(DEMO)/lfw.hmr: $(DEMO)/lfw/landmarks.txt $(DEMO)/align.opts | bin/hm-align bin/hm-pack
	bin/hm-align -q --size $(DEMO_SIZE) --root $(DEMO)/lfw $< | bin/hm-pack -q -o $@ -

endif
