# study.awk: the table of make study (pipelines/study.mk) from its rows,
#   run,loss,mode,seed,lr,status,accuracy,tar@far=0.001
# one per run (status ok or diverged), in Markdown.
#
#   cat STUDY/*/row | awk -F, -v title=TITLE -f pipelines/study.awk
#
# Per loss (in order of appearance) and mode (none first, then in order of
# appearance): the rate, the seeds that finished (and diverged), accuracy
# and TAR@FAR=1e-3 as mean +- sample std over the finished seeds, and the
# paired difference to the same loss's baseline (mode none, same seed):
# mean +- sample std of the per-seed differences, '*' where |mean| is more
# than twice that std (with 2 or more pairs).  Percent, two decimals.

BEGIN { FS = "," }

NF >= 6 {
	loss = $2; mode = $3; seed = $4
	if (!(loss in lseen)) { lseen[loss] = 1; losses[++nl] = loss }
	if (!((loss, mode) in mseen)) {
		mseen[loss, mode] = 1
		modes[loss, ++nm[loss]] = mode
	}
	if (!((loss, mode, seed) in sseen)) {
		sseen[loss, mode, seed] = 1
		seeds[loss, mode, ++ns[loss, mode]] = seed
	}
	lrsum[loss, mode] += $5; lrn[loss, mode]++
	if ($6 == "ok") {
		acc[loss, mode, seed] = $7; tar[loss, mode, seed] = $8
		done[loss, mode, seed] = 1; nok[loss, mode]++
	} else ndiv[loss, mode]++
}

# Mean and sample std of v[1..n] in m_ and s_ (s_ = -1 when n < 2).
function ms(v, n,    i, sum, sq) {
	sum = 0; sq = 0
	for (i = 1; i <= n; i++) sum += v[i]
	m_ = n ? sum / n : 0
	for (i = 1; i <= n; i++) sq += (v[i] - m_) ^ 2
	s_ = n > 1 ? sqrt(sq / (n - 1)) : -1
}

function fmt(m, s) {
	return sprintf("%.2f", 100 * m) (s >= 0 ? sprintf(" +- %.2f", 100 * s) : "")
}

# The cell of measure w (acc or tar) of loss l, mode m, and its difference.
function cells(l, m, w,    i, sd, n, nd, v, d, out) {
	n = 0; nd = 0
	for (i = 1; i <= ns[l, m]; i++) {
		sd = seeds[l, m, i]
		if (!((l, m, sd) in done)) continue
		# an empty TAR: hm-roc could not resolve FAR 1e-3 (too few
		# different pairs); it takes no part in means or differences
		if (w == "tar" && tar[l, m, sd] == "") continue
		v[++n] = (w == "acc") ? acc[l, m, sd] : tar[l, m, sd]
		if (m != "none" && ((l, "none", sd) in done) &&
		    (w == "acc" || tar[l, "none", sd] != ""))
			d[++nd] = v[n] - ((w == "acc") ? acc[l, "none", sd] : tar[l, "none", sd])
	}
	if (n == 0) return w == "tar" ? "n/a | " : "- | -"
	ms(v, n); out = fmt(m_, s_)
	if (m == "none" || nd == 0) return out " | "
	ms(d, nd)
	return out " | " sprintf("%+.2f", 100 * m_) (s_ >= 0 ? sprintf(" +- %.2f", 100 * s_) : "") \
		(s_ >= 0 && (m_ > 2 * s_ || -m_ > 2 * s_) ? " *" : "")
}

END {
	printf "# %s\n\n", title
	print "| loss | hard mining | lr | seeds | LFW accuracy % | diff | TAR@FAR=1e-3 % | diff |"
	print "|---|---|---:|---:|---:|---:|---:|---:|"
	for (i = 1; i <= nl; i++) {
		l = losses[i]
		# none first, then the others as they came
		k = 0
		if ((l, "none") in mseen) order[++k] = "none"
		for (j = 1; j <= nm[l]; j++)
			if (modes[l, j] != "none") order[++k] = modes[l, j]
		for (j = 1; j <= k; j++) {
			m = order[j]
			lr = lrsum[l, m] / lrn[l, m]
			seedcell = (nok[l, m] + 0) (ndiv[l, m] ? sprintf(" (%d diverged)", ndiv[l, m]) : "")
			printf "| %s | %s | %s%.3g | %s | %s | %s |\n", l,
				m == "lrmatch" ? "none, lr x 2 L0 (power:2's start)" : m,
				m == "lrmatch" ? "~" : "", lr, seedcell,
				cells(l, m, "acc"), cells(l, m, "tar")
		}
	}
	print ""
	print "mean +- sample std over the seeds that finished; diff: the paired difference to the same loss's run without hard mining (same seed, same rate), mean +- sample std of the per-seed differences; * where |mean diff| > 2 x that std.  A diverged run (loss or weights no longer finite) has no accuracy; lr-matched controls run at the rate power:2 has at its start, lr x 2 L0 with L0 the baseline's first logged loss (mean over seeds shown)."
}
