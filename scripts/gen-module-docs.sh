#!/bin/bash
# Regenerates docs/modules/: one page per module from `gpuctl doc --format markdown`
# and the index README.md. A page's hand-written notes (below its marker line) are kept.
# cli/docs_test.go is the generator and, without -update, the CI check.
set -euo pipefail
cd "$(dirname "$0")/.."
go test ./cli -run TestModuleDocsAreGenerated -count=1 -update
echo "docs/modules: $(ls docs/modules | wc -l) files"
