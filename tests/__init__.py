import pytest

# Shared helpers are imported by conftest before pytest loads them as plugins.
pytest.register_assert_rewrite("tests.helpers", "tests.smtp_servers", "tests.mta")
