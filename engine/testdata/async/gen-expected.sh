#!/bin/sh
# Records what ansible-core writes for async.yml into expected-ansible/.
set -eu
cd "$(dirname "$0")"
rm -rf expected-ansible && mkdir expected-ansible
ansible-playbook -i inv.ini async.yml -e out_dir="$PWD/expected-ansible" </dev/null >/dev/null
ansible-playbook --version > v.tmp; head -1 v.tmp > expected-ansible.version; rm v.tmp
