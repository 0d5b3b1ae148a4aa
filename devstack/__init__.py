"""The local development stack: `python -m devstack` (`make up`) runs Temporal, both services,
the worker and the API as child processes; `python -m devstack.demo` (`make demo`) runs one
saga per outcome against it. `devstack.stack.Stack` is the same thing for tests."""
