#!/bin/bash
# ctl.sh NAME freeze|thaw|kill|regen-hostkey: simulate trouble on a running host.
#   freeze  every process stops (nspawn: cgroup freezer; vm: the VM is paused): connections hang
#   thaw    undo freeze
#   kill    the host dies at once (nspawn: SIGKILL to its init; vm: SIGKILL to qemu): connections drop;
#           its files stay until stop.sh NAME
#   regen-hostkey  sshd gets a new host key; prints KNOWN_HOSTS=FILE (a new file with only the new key)
#           and HOSTKEY=...; the files of earlier keys are kept, so tests can connect with a stale one
set -euo pipefail
HOSTS_DIR=$(cd "$(dirname "$0")" && pwd)
. "$HOSTS_DIR/lib.sh"
NAME=${1:?usage: ctl.sh NAME freeze|thaw|kill}
D=$RUN/$NAME
[ -f "$D/env" ] || die "no running host $NAME"
mode=$(host_var "$NAME" MODE)
freezer() { for g in $(cat "$D/cgroups"); do if [ -f "$g/freezer.state" ]; then echo "$g"; fi; done; }

case ${2:-} in
freeze | thaw)
	if [ "$mode" = vm ]; then
		if [ "$2" = freeze ]; then hmp "$D/mon" stop 0.1 >/dev/null; else hmp "$D/mon" cont 0.1 >/dev/null; fi
		exit 0
	fi
	g=$(freezer)
	want=FROZEN
	[ "$2" = thaw ] && want=THAWED
	echo $want >"$g/freezer.state"
	for i in $(seq 1 100); do
		[ "$(cat "$g/freezer.state")" = $want ] && exit 0
		sleep 0.02
	done
	die "$NAME: freezer stuck in $(cat "$g/freezer.state")"
	;;
kill)
	if [ "$mode" = vm ]; then
		p=$(cat "$D/qemu.pid")
		grep -qsF "$D/" "/proc/$p/cmdline" && kill -9 "$p"
		exit 0
	fi
	kill_payload "$D"
	;;
regen-hostkey)
	gen=0
	while [ -e "$D/known_hosts.gen$gen" ]; do gen=$((gen + 1)); done
	rm -f "$D/newkey" "$D/newkey.pub"
	ssh-keygen -q -t ed25519 -N '' -C "$NAME" -f "$D/newkey"
	hk=$(cut -d' ' -f1,2 "$D/newkey.pub")
	"$HOSTS_DIR/ssh" "$NAME" "umask 077; cat >/etc/ssh/ssh_host_ed25519_key.new && mv /etc/ssh/ssh_host_ed25519_key.new /etc/ssh/ssh_host_ed25519_key &&
		echo '$hk $NAME' >/etc/ssh/ssh_host_ed25519_key.pub && chmod 644 /etc/ssh/ssh_host_ed25519_key.pub && systemctl reload ssh" <"$D/newkey"
	port=$(host_var "$NAME" PORT) addr=$(host_var "$NAME" ADDR)
	if [ "$port" = 22 ]; then kh=$addr; else kh="[$addr]:$port"; fi
	echo "$kh $hk" >"$D/known_hosts.gen$gen"
	cp "$D/known_hosts.gen$gen" "$D/known_hosts"
	mv "$D/newkey" "$D/ssh_host_ed25519_key"
	mv "$D/newkey.pub" "$D/ssh_host_ed25519_key.pub"
	sed -i "s|^HOSTKEY=.*|HOSTKEY=$hk|; s|^KNOWN_HOSTS=.*|KNOWN_HOSTS=$D/known_hosts.gen$gen|" "$D/env"
	# sshd re-executes on reload: wait until it answers with the new key
	for i in $(seq 1 100); do "$HOSTS_DIR/ssh" "$NAME" -o ConnectTimeout=2 true 2>/dev/null && break; sleep 0.05; done
	"$HOSTS_DIR/ssh" "$NAME" true || die "$NAME: sshd did not come back with the new key"
	echo "KNOWN_HOSTS=$D/known_hosts.gen$gen"
	echo "HOSTKEY=$hk"
	;;
*) die "usage: ctl.sh NAME freeze|thaw|kill|regen-hostkey" ;;
esac
