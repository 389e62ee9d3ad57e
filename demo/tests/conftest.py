"""The researcher personas and the throwaway media folder of the campaign tests."""

from campaigns.tests.conftest import media_root, personas  # noqa: F401
