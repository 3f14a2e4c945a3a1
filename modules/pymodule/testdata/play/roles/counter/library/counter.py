#!/usr/bin/python3
# A role's library/ module: keeps one name=value in a JSON file, with check
# mode and a diff.
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.countutil import render
import json
import os


def main():
    m = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            name=dict(type='str', required=True),
            value=dict(type='int', required=True),
        ),
        supports_check_mode=True,
    )
    path = m.params['path']
    values = {}
    if os.path.exists(path):
        with open(path) as f:
            values = json.load(f)
    before = render(values)
    values[m.params['name']] = m.params['value']
    after = render(values)
    changed = before != after
    if changed and not m.check_mode:
        m.atomic_move(write_tmp(m, after), path)
    m.exit_json(changed=changed, values=values, diff=dict(before=before, after=after, before_header=path, after_header=path))


def write_tmp(m, text):
    tmp = os.path.join(m.tmpdir, 'counter.json')
    with open(tmp, 'w') as f:
        f.write(text)
    return tmp


if __name__ == '__main__':
    main()
