#!/bin/bash
# bench/fleet/table.sh RESULTS.tsv: run.sh's markdown table from its TSV (also for a cut-off run):
# one row per hosts and phase, the speed-up where both tools ran, gpuctl's seconds per host (the curve),
# and, where the TSV has them (runs since 2026-12-07), CPU milliseconds per host: the controller's and
# the hosts' for each tool, and the ratio of the controllers' CPU, which is what sets the time once the
# hosts are separate machines.
set -euo pipefail
echo "| hosts | phase | ansible-playbook (s) | gpuctl (s) | speed-up | gpuctl s/host | gpuctl max RSS (MB) | gpuctl max fds | ansible CPU ms/host: controller + hosts | gpuctl CPU ms/host: controller + hosts | controller CPU ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' 'NR > 1 {
		k = $1 SUBSEP $3
		if ($2 == "gpuctl") { g[k] = $4; m[k] = $5; f[k] = $6; gc[k] = $8; gh[k] = $9 } else { a[k] = $4; note[k] = $7; ac[k] = $8; ah[k] = $9 }
		if (!(k in seen)) { seen[k] = 1; order[++n] = k }
	}
	function cpu(c, h, hosts) { return (c == "" || h == "") ? "-" : sprintf("%.0f + %.0f", c * 1000 / hosts, h * 1000 / hosts) }
	END {
		for (i = 1; i <= n; i++) {
			k = order[i]; split(k, p, SUBSEP)
			# The re-runs of the A/B section of run.sh compare with the ansible re-run of the same hosts.
			ak = (!(k in a) && p[2] ~ /^rerun after ansible/) ? p[1] SUBSEP "rerun" : k
			r = (ak in a && k in g && g[k] > 0) ? sprintf("%.0fx", a[ak] / g[k]) : "-"
			s = (k in g) ? sprintf("%.3f", g[k] / p[1]) : "-"
			cr = (ac[k] != "" && gc[k] != "" && gc[k] > 0) ? sprintf("%.0fx", ac[k] / gc[k]) : "-"
			printf "| %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], (note[k] != "" ? " (ansible " note[k] ")" : ""),
				(k in a ? a[k] : "-"), (k in g ? g[k] : "-"), r, s, (k in g ? m[k] : "-"), (k in g ? f[k] : "-"),
				cpu(ac[k], ah[k], p[1]), cpu(gc[k], gh[k], p[1]), cr
		}
	}' "$1"
