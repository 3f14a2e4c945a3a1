#!/bin/sh
# Records what ansible-playbook prints (stdout) for each line of cases.txt
# into expected-ansible/N.txt. ansible-playbook prints a play's hosts from a
# Python set, in no fixed order: the test compares host lists as sets.
set -eu
cd "$(dirname "$0")"
rm -rf expected-ansible && mkdir expected-ansible
n=0
while read -r args; do
	n=$((n + 1))
	# shellcheck disable=SC2086 # the line is the argument list
	ansible-playbook -i inv.ini $args >"expected-ansible/$n.txt" 2>/dev/null
done <cases.txt
ansible-playbook --version > v.tmp; head -1 v.tmp > expected-ansible.version; rm v.tmp
