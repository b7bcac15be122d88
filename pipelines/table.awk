# table.awk: the results table of the paper targets and of the demo, in
# Markdown, from hm-roc --csv files named TEST.csv (lfw.csv, ytf.csv).
#
#   awk -v title=TITLE [-v train=NAME] [-v runs=FILE] -f pipelines/table.awk lfw.csv ytf.csv
#
# FILE (optional) has one line per run, 'LABEL MODE LR': the curve label,
# its --hm mode and its --lr (pipelines write it from each run's
# train.opts).  The table then states the hard-mining mode of the -hm runs
# and the learning rate of each loss's runs (two rates, baseline / -hm, if
# they differ: then the difference is not hard mining's alone).
#
# A curve label is TRAIN-LOSS[-hm][-sSEED] (casia-arcface-hm,
# ms1m-softmax, arcface-hm-s2); TRAIN is casia or ms1m, or absent (then the
# training column says NAME).  Baseline and -hm runs of the same TRAIN-LOSS
# go side by side with their difference (-hm minus baseline) for the 10-fold
# accuracy, the AUC and TAR@FAR=1e-3.  With one seed, accuracy is the mean
# +- the population std over folds (hm-roc's); with several seeds it is the
# mean over seeds +- the sample std over seeds, and the difference is the
# mean of the per-seed differences +- their sample std, each seed listed.
# hm-roc's CSV holds fractions (0..1); the table shows accuracy and TAR in
# percent.  A TAR that hm-roc leaves empty (FAR below 1 / different pairs:
# not resolvable) is "n/a" and takes no part in means or differences.
# Labels must not contain commas or quotes (the pipelines' never do).
# The environment variable hm_data_TEST, when set, is the test set's source
# (paper.mk passes RESULTS/data/TEST.src): a "Data:" line under its heading.

BEGIN {
	FS = ","; ntest = 0
	if (runs != "") {
		while ((getline line < runs) > 0) {
			split(line, f, " ")
			rmode[f[1]] = f[2]; rlr[f[1]] = f[3]
		}
		close(runs)
	}
}

FNR == 1 {
	for (i = 1; i <= NF; i++) col[$i] = i
	if (!("curve" in col) || !("accuracy" in col) || !("auc" in col) ||
	    !("tar@far=0.001" in col)) {
		printf "table.awk: '%s': not hm-roc --csv output with --far 1e-3\n",
			FILENAME > "/dev/stderr"
		bad = 1; exit 1
	}
	t = FILENAME; sub(/.*\//, "", t); sub(/\.csv$/, "", t)
	test[++ntest] = t
	next
}

{
	label = $col["curve"]; seed = ""; hm = 0
	if (match(label, /-s[0-9]+$/)) {
		seed = substr(label, RSTART + 2); label = substr(label, 1, RSTART - 1)
	}
	if (label ~ /-hm$/) { hm = 1; sub(/-hm$/, "", label) }
	key = t SUBSEP label
	if (!(key in seen)) { seen[key] = 1; keys[t, ++nkey[t]] = label }
	if (!((t, seed) in seedseen)) { seedseen[t, seed] = 1; seeds[t, ++nseed[t]] = seed }
	run = key SUBSEP hm SUBSEP seed
	curve = $col["curve"]
	if (curve in rmode) {
		if (hm) addset("mode", key, rmode[curve])
		addset(hm ? "lr1" : "lr0", key, rlr[curve])
	}
	acc[run] = $col["accuracy"]; accstd[run] = $col["accuracy_std"]
	auc[run] = $col["auc"]; tar[run] = $col["tar@far=0.001"]
	has[run] = 1
	pairs[t] = $col["pairs"]; folds[t] = $col["folds"]; proto[t] = $col["protocol"]
}

# sets[name, k]: the distinct values given for name and k, joined by ", ".
function addset(name, k, v) {
	if (!((name, k) in sets)) sets[name, k] = v
	else if (index(", " sets[name, k] ", ", ", " v ", ") == 0)
		sets[name, k] = sets[name, k] ", " v
}
function getset(name, k) { return ((name, k) in sets) ? sets[name, k] : "-" }
function modecell(t, k) { return getset("mode", t SUBSEP k) }
function lrcell(t, k,    a, b) {
	a = getset("lr0", t SUBSEP k)
	b = getset("lr1", t SUBSEP k)
	return a == b || b == "-" ? a : a == "-" ? b : a " / " b " (-hm)"
}

function trainname(l) {
	if (l ~ /^casia-/) return "CASIA"
	if (l ~ /^ms1m-/) return "MS1M"
	return train == "" ? "-" : train
}
function lossname(l) { sub(/^(casia|ms1m)-/, "", l); return l }

# The mean of measure m (acc, auc, tar) over the seeds of key k, variant h,
# in mean_[], sd_[] (sample std over seeds, or the fold std for accuracy with
# one seed) and n_[]; returns the count.
function stat(t, k, h, m,    i, s, r, v, sum, sq, n) {
	n = 0; sum = 0; sq = 0
	for (i = 1; i <= nseed[t]; i++) {
		r = t SUBSEP k SUBSEP h SUBSEP seeds[t, i]
		if (!(r in has) || (m == "tar" && tar[r] == "")) continue
		v = (m == "acc") ? acc[r] : (m == "auc") ? auc[r] : tar[r]
		n++; sum += v; s = r
	}
	if (n == 0) return 0
	mean_ = sum / n
	if (n == 1) sd_ = (m == "acc") ? accstd[s] : -1
	else {
		for (i = 1; i <= nseed[t]; i++) {
			r = t SUBSEP k SUBSEP h SUBSEP seeds[t, i]
			if (!(r in has) || (m == "tar" && tar[r] == "")) continue
			v = (m == "acc") ? acc[r] : (m == "auc") ? auc[r] : tar[r]
			sq += (v - mean_) ^ 2
		}
		sd_ = sqrt(sq / (n - 1))
	}
	return n
}

# Per-seed differences -hm minus baseline of measure m over seeds run both
# ways: mean in dmean_, sample std in dsd_ (-1 with one seed), the list in
# dlist_ (scaled by f, format fmt); returns the count.
function diff(t, k, m, f, fmt,    i, a, b, n, sum, sq, d, dd) {
	n = 0; sum = 0; sq = 0; dlist_ = ""
	for (i = 1; i <= nseed[t]; i++) {
		a = t SUBSEP k SUBSEP 0 SUBSEP seeds[t, i]
		b = t SUBSEP k SUBSEP 1 SUBSEP seeds[t, i]
		if (!(a in has) || !(b in has)) continue
		if (m == "tar" && (tar[a] == "" || tar[b] == "")) continue
		dd = (m == "acc") ? acc[b] - acc[a] : (m == "auc") ? auc[b] - auc[a] : tar[b] - tar[a]
		d[++n] = dd; sum += dd
		dlist_ = dlist_ (n > 1 ? ", " : "") sprintf(fmt, dd * f)
	}
	if (n == 0) return 0
	dmean_ = sum / n
	if (n == 1) dsd_ = -1
	else {
		for (i = 1; i <= n; i++) sq += (d[i] - dmean_) ^ 2
		dsd_ = sqrt(sq / (n - 1))
	}
	return n
}

# Whether key k, variant h has a run at all (seed aside).
function anyrun(t, k, h,    i) {
	for (i = 1; i <= nseed[t]; i++)
		if ((t SUBSEP k SUBSEP h SUBSEP seeds[t, i]) in has) return 1
	return 0
}

function cell(t, k, h, m, f, fmt) {
	if (!stat(t, k, h, m)) return anyrun(t, k, h) ? "n/a" : "-"
	return sprintf(fmt, mean_ * f) (sd_ >= 0 ? sprintf(" +- " fmt, sd_ * f) : "")
}
function dcell(t, k, m, f, fmt) {
	if (!diff(t, k, m, f, "%+" substr(fmt, 2)))
		return anyrun(t, k, 0) && anyrun(t, k, 1) ? "n/a" : "-"
	return sprintf("%+" substr(fmt, 2), dmean_ * f) (dsd_ >= 0 ? sprintf(" +- " fmt, dsd_ * f) : "")
}

END {
	if (bad) exit 1
	printf "# %s\n", title
	for (ti = 1; ti <= ntest; ti++) {
		t = test[ti]
		ns = nseed[t]
		printf "\n## %s: %d pairs, %s folds, %s threshold search\n\n", toupper(t),
			pairs[t], folds[t] == 0 ? "no" : folds[t], proto[t]
		if (ENVIRON["hm_data_" t] != "")
			printf "Data: %s\n\n", ENVIRON["hm_data_" t]
		if (runs != "") {
			print "| training | loss | -hm mode | lr | accuracy % | -hm | diff | AUC | -hm | diff | TAR@FAR=1e-3 % | -hm | diff |"
			print "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		} else {
			print "| training | loss | accuracy % | -hm | diff | AUC | -hm | diff | TAR@FAR=1e-3 % | -hm | diff |"
			print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		}
		for (i = 1; i <= nkey[t]; i++) {
			k = keys[t, i]
			printf "| %s | %s | %s%s%s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				trainname(k), lossname(k),
				runs != "" ? modecell(t, k) " | " : "",
				runs != "" ? lrcell(t, k) " | " : "",
				cell(t, k, 0, "acc", 100, "%.2f"), cell(t, k, 1, "acc", 100, "%.2f"),
				dcell(t, k, "acc", 100, "%.2f"),
				cell(t, k, 0, "auc", 1, "%.4f"), cell(t, k, 1, "auc", 1, "%.4f"),
				dcell(t, k, "auc", 1, "%.4f"),
				cell(t, k, 0, "tar", 100, "%.2f"), cell(t, k, 1, "tar", 100, "%.2f"),
				dcell(t, k, "tar", 100, "%.2f")
		}
		print ""
		if (ns == 1)
			print "Accuracy: mean +- std over the folds (one run each); diff: -hm minus baseline."
		else {
			printf "Over %d seeds: mean +- sample std over the seeds; diff: mean +- sample std of the per-seed differences (-hm minus baseline), per seed:\n\n", ns
			for (i = 1; i <= nkey[t]; i++) {
				k = keys[t, i]
				if (diff(t, keys[t, i], "acc", 100, "%+.2f"))
					printf "- %s accuracy diff per seed: %s\n", lossname(k), dlist_
			}
		}
	}
}
