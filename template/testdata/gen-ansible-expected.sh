#!/bin/sh
# Records what Debian's ansible-core makes of each expression in
# ansible_exprs.txt, as ansible_expected.json; TestAnsibleExpectations
# asserts gpuctl's engine gives the same. Needs ansible-playbook (apt-get
# install ansible-core).
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  echo '- hosts: localhost'
  echo '  gather_facts: false'
  echo '  tasks:'
  n=0
  while IFS= read -r e; do
    n=$((n + 1))
    # The expression goes in a YAML block scalar, so quotes need no escaping.
    printf '    - ignore_errors: true\n      copy:\n        dest: %s/%04d.json\n        content: |-\n          {{ (%s) | to_json }}\n' "$tmp" "$n" "$e"
  done < ansible_exprs.txt
} > "$tmp/play.yml"
ansible-playbook -i localhost, -c local "$tmp/play.yml" > "$tmp/log" || { tail -30 "$tmp/log"; exit 1; }
n=0
{
  echo '['
  sep=''
  while IFS= read -r e; do
    n=$((n + 1))
    printf '%s{"expr": %s, "value": %s}\n' "$sep" "$(printf '%s' "$e" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" "$(cat "$tmp/$(printf %04d $n).json" 2>/dev/null || echo '"ANSIBLE-ERROR"')"
    sep=','
  done < ansible_exprs.txt
  echo ']'
} > ansible_expected.json
