# Imported by the role's counter module as ansible.module_utils.countutil,
# as ansible-core ships a role's module_utils.
import json


def render(values):
    return json.dumps(values, sort_keys=True, indent=2) + "\n"
