#!/bin/sh
# Records what ansible-core writes for dyn.yml, in a real run into
# expected-ansible/ and under --check into expected-ansible-check/.
set -eu
cd "$(dirname "$0")"
for d in expected-ansible expected-ansible-check; do
	rm -rf "$d" && mkdir "$d"
	check=""
	[ "$d" = expected-ansible-check ] && check=--check
	ansible-playbook -i inv.ini dyn.yml $check -e out_dir="$PWD/$d" >/dev/null
done
ansible-playbook --version > v.tmp; head -1 v.tmp > expected-ansible.version; rm v.tmp
