# demo.mk: the suite's main job on synthetic data, with nothing to download.
#
#   make demo            DEMO=demo (output folder), DEMO_IDS, DEMO_IMGS, SEED
#
# Renders a CASIA-shaped training set and an LFW-shaped test set for the real
# LFW pair list (when ../shared/data/pairs.txt is present; a generated one
# otherwise), aligns both to the insightface 112x112 template and packs them
# with an index.  Expect about a minute on two cores; the packs end up in
# $(DEMO)/train.hmr and $(DEMO)/lfw.hmr with their .hmi indexes.
# Training and evaluation stages join this recipe as they land.

SHELL := bash
.SHELLFLAGS := -eo pipefail -c

DEMO ?= demo
DEMO_IDS ?= 200
DEMO_IMGS ?= 20
SEED ?= 1
LFW_PAIRS ?= $(firstword $(wildcard ../shared/data/pairs.txt))
DEMO_LFW_FROM := $(if $(LFW_PAIRS),--pairs-from $(LFW_PAIRS),--identities 300 --pairs 30)

.PHONY: demo
demo: $(DEMO)/train.hmr $(DEMO)/lfw.hmr
	bin/hm-pack --verify $(DEMO)/train.hmr
	bin/hm-pack --verify $(DEMO)/lfw.hmr
	@echo "demo: training pack $(DEMO)/train.hmr, test pack $(DEMO)/lfw.hmr"

$(DEMO)/casia/landmarks.txt: | bin/hm-synth
	bin/hm-synth --kind casia --identities $(DEMO_IDS) --images-per-id $(DEMO_IMGS) \
		--seed $(SEED) -o $(DEMO)/casia

$(DEMO)/lfw/landmarks.txt: | bin/hm-synth
	bin/hm-synth --kind lfw $(DEMO_LFW_FROM) --seed $(SEED) -o $(DEMO)/lfw

$(DEMO)/%-aligned.hmr: $(DEMO)/%/landmarks.txt | bin/hm-align
	bin/hm-align --root $(DEMO)/$* $< > $@

$(DEMO)/train.hmr: $(DEMO)/casia-aligned.hmr | bin/hm-pack
	bin/hm-pack --shuffle --seed $(SEED) -o $@ $<

$(DEMO)/lfw.hmr: $(DEMO)/lfw-aligned.hmr | bin/hm-pack
	bin/hm-pack -o $@ $<
