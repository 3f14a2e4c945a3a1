# Reads a JSON list of iptables task args on stdin, prints the rule
# construct_rule builds for each (ansible-core's own function).
import json, sys
from ansible.modules import iptables as m
spec_defaults = dict(table='filter', state='present', action='append', ip_version='ipv4', match=[], destination_ports=[], ctstate=[], syn='ignore', flush=False, chain_management=False)
keys = ['chain','rule_num','protocol','wait','source','to_source','destination','to_destination','tcp_flags','jump','gateway','log_prefix','log_level','goto','in_interface','out_interface','fragment','set_counters','source_port','destination_port','to_ports','set_dscp_mark','set_dscp_mark_class','comment','src_range','dst_range','match_set','match_set_flags','limit','limit_burst','uid_owner','gid_owner','reject_with','icmp_type','policy']
out = []
for args in json.load(sys.stdin):
    p = dict(spec_defaults); p.update({k: None for k in keys}); p.update(args)
    for k in ('match', 'ctstate', 'destination_ports'):
        if isinstance(p[k], str): p[k] = p[k].split(',')
        p[k] = [str(x) for x in p[k]]
    for k in keys:
        if isinstance(p[k], int) and not isinstance(p[k], bool): p[k] = str(p[k])
    if isinstance(p['tcp_flags'], dict):
        p['tcp_flags'] = {'flags': p['tcp_flags'].get('flags'), 'flags_set': p['tcp_flags'].get('flags_set')}
    out.append(m.construct_rule(p))
print(json.dumps(out))
