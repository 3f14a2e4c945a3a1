#!/bin/bash
# Writes docs/modules/MODULE.md from `gpuctl doc --format markdown` for every module that
# has no page yet, and the index docs/modules/README.md. Hand-written pages are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/gpuctl
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" .
mkdir -p docs/modules
{
	echo "# Module reference"
	echo
	echo "Every module gpuctl ships, with a one-line summary. \`gpuctl doc MODULE\` prints the same page."
	echo
	echo "| module | summary |"
	echo "|---|---|"
	"$bin" modules | while read -r name rest; do
		summary=$(echo "$rest" | sed 's/^([^)]*) *//')
		echo "| [$name]($name.md) | $summary |"
		[ -f "docs/modules/$name.md" ] || "$bin" doc --format markdown "$name" > "docs/modules/$name.md"
	done
} > docs/modules/README.md
echo "docs/modules: $(ls docs/modules | wc -l) files"
