# hostile candidates are data for test_security, never modules to import (pytest --doctest-modules would)
collect_ignore = ["hostile"]
