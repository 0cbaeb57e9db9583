"""Sandboxes: one interface (`base.Sandbox`) and its backends, each the module `<name>_backend`
(registered in `core.contract.BACKENDS`); `backends.open_sandbox` opens one."""
