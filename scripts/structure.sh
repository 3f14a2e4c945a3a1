#!/bin/sh
# structure.sh prints what the closing notes of a restructuring measure:
# which gpuctl packages import which (non-test imports, from go list) and
# the longest functions (scripts/funclen).
#
#   sh scripts/structure.sh [N]
set -eu
cd "$(dirname "$0")/.."
mod=github.com/gpuctl/gpuctl
echo "## Import graph (package: gpuctl packages it imports)"
go list -f '{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}' ./... |
	awk -v m="$mod/" '{ out = ""; for (i = 2; i <= NF; i++) if (index($i, m) == 1) out = out " " substr($i, length(m) + 1);
		sub(m, "", $1); if ($1 == "'"$mod"':") $1 = "(main):"; print $1 out }'
echo
echo "## Longest functions (lines, name, file:line)"
go run ./scripts/funclen -n "${1:-20}" .
