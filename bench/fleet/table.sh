#!/bin/bash
# bench/fleet/table.sh RESULTS.tsv: run.sh's markdown table from its TSV (also for a cut-off run):
# one row per hosts and phase, the speed-up where both tools ran, gpuctl's seconds per host (the curve).
set -euo pipefail
echo "| hosts | phase | ansible-playbook (s) | gpuctl (s) | speed-up | gpuctl s/host | gpuctl max RSS (MB) | gpuctl max fds |"
echo "|---|---|---|---|---|---|---|---|"
awk -F'\t' 'NR > 1 {
		k = $1 SUBSEP $3
		if ($2 == "gpuctl") { g[k] = $4; m[k] = $5; f[k] = $6 } else { a[k] = $4; note[k] = $7 }
		if (!(k in seen)) { seen[k] = 1; order[++n] = k }
	}
	END {
		for (i = 1; i <= n; i++) {
			k = order[i]; split(k, p, SUBSEP)
			r = (k in a && k in g && g[k] > 0) ? sprintf("%.0fx", a[k] / g[k]) : "-"
			s = (k in g) ? sprintf("%.3f", g[k] / p[1]) : "-"
			printf "| %s | %s%s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], (note[k] != "" ? " (ansible " note[k] ")" : ""),
				(k in a ? a[k] : "-"), (k in g ? g[k] : "-"), r, s, (k in g ? m[k] : "-"), (k in g ? f[k] : "-")
		}
	}' "$1"
