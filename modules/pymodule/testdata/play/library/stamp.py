#!/usr/bin/python3
# A library/ module beside the playbook that does not support check mode:
# ansible-core skips it under --check, gpuctl says it is known after apply.
from ansible.module_utils.basic import AnsibleModule


def main():
    m = AnsibleModule(
        argument_spec=dict(path=dict(type='path', required=True), word=dict(type='str', required=True)),
    )
    path, word = m.params['path'], m.params['word']
    try:
        with open(path) as f:
            current = f.read()
    except FileNotFoundError:
        current = None
    changed = current != word
    if changed:
        with open(path, 'w') as f:
            f.write(word)
    m.exit_json(changed=changed, written=word)


if __name__ == '__main__':
    main()
