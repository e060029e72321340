"""Fixtures of the proxy tests; the helpers themselves live in proxy_support.py.

Test modules import helpers from `proxy_support`, never from `conftest`: another test
package has a conftest.py too, and a bare `import conftest` could find either.
"""

from proxy_support import harness, loop_thread, manual_clock, upstream

__all__ = ["harness", "loop_thread", "manual_clock", "upstream"]
