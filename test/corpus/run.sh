#!/bin/bash
# test/corpus/run.sh [--load-only]: runs the corpus (real roles and playbooks from Debian's
# ansible package, see manifest.yaml) through gpuctl on real Debian test hosts, prints the table
# (item, loads, plans, applies, same state as Ansible, idempotent re-run time of gpuctl against
# ansible-playbook) and the gaps, and writes them into docs/ansible-compatibility.md under
# "## Real content". Needs root for the hosts; --load-only needs neither root nor hosts.
# Exits non-zero when an item is below or above the level the manifest expects.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export PATH=$PATH:/usr/local/go/bin GOFLAGS=${GOFLAGS:--buildvcs=false} CGO_CFLAGS=${CGO_CFLAGS:--Wno-deprecated-declarations}

need=""
for p in ansible ansible-core dpkg-dev apt-utils gnupg; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need="$need $p"
done
if [ -n "$need" ]; then
	[ "$(id -u)" = 0 ] || { echo "run.sh: missing Debian packages:$need" >&2; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends $need >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $need >/dev/null; }
fi

report=$(mktemp /tmp/corpus-report.XXXX.md)
log=$(mktemp /tmp/corpus-test.XXXX.log)
trap 'rm -f "$report"' EXIT
rc=0
if [ "${1:-}" = --load-only ]; then
	GPUCTL_CORPUS_LOAD_ONLY=1 GPUCTL_CORPUS_REPORT=$report go test -count=1 -run 'TestManifest|TestCorpusLoads' ./test/corpus >"$log" 2>&1 || rc=$?
else
	[ "$(id -u)" = 0 ] || { echo "run.sh: test hosts need root (or use --load-only)" >&2; exit 1; }
	bash test/hosts/build.sh --no-vm >/dev/null
	GPUCTL_TEST_HOSTS=require GPUCTL_CORPUS_REPORT=$report go test -count=1 -p 1 -timeout 60m -run 'TestManifest|TestCorpus$' ./test/corpus >"$log" 2>&1 || rc=$?
fi
if [ ! -s "$report" ]; then
	echo "run.sh: the test wrote no report; its log ($log):" >&2
	tail -40 "$log" >&2
	exit 1
fi
cat "$report"

# Replace the "## Real content" section (up to the next "## " heading) of the docs page.
doc=docs/ansible-compatibility.md
[ -f "$doc" ] || printf '# Ansible compatibility\n' > "$doc"
awk -v rep="$report" '
	/^## Real content$/ { while ((getline l < rep) > 0) print l; skip = 1; done = 1; next }
	skip && /^## / { skip = 0; print "" }
	!skip { print }
	END { if (!done) { print ""; while ((getline l < rep) > 0) print l } }
' "$doc" > "$doc.new" && mv "$doc.new" "$doc"
echo "run.sh: wrote $doc; test log: $log" >&2
if [ $rc != 0 ]; then
	echo "run.sh: items differ from the manifest's expectations:" >&2
	grep -E 'regressed|improved|--- FAIL' "$log" >&2 || tail -20 "$log" >&2
fi
exit $rc
