"""autoglm_doctor_keep_report: write a host's report into the controller's report directory.

An action that runs on the controller alone: no module is sent anywhere and no round trip is made, where a
``copy`` delegated to localhost would start Ansible's Python twice for every host. It writes atomically and
only when the content changed (``changed`` says so), and it writes in check mode too: the controller's report
directory is the one thing a check-mode run is meant to change."""

from __future__ import annotations

import hashlib
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("content", "dest", "mode"))
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        content = self._task.args.get("content")
        dest = self._task.args.get("dest")
        mode = int(str(self._task.args.get("mode", "0644")), 8)
        if not isinstance(content, str) or not dest:
            raise AnsibleActionFail("autoglm_doctor_keep_report needs content (a string) and dest")
        data = content.encode("utf-8", "surrogateescape")
        if not data.endswith(b"\n"):
            data += b"\n"
        dest = os.path.abspath(os.path.expanduser(str(dest)))
        try:
            with open(dest, "rb") as f:
                old = f.read()
        except FileNotFoundError:
            old = None
        result.update(dest=dest, checksum=hashlib.sha1(data).hexdigest(), changed=old != data)
        if old == data:
            return result
        try:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            fd, part = tempfile.mkstemp(prefix=".report-", dir=os.path.dirname(dest))
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.chmod(part, mode)
                os.replace(part, dest)
            except BaseException:
                os.unlink(part)
                raise
        except OSError as e:
            raise AnsibleActionFail(f"cannot write {dest}: {e}") from e
        return result
