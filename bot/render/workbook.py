"""The digest workbook moved to `storage.workbooks.digest` (a file format, not chat rendering,
and scheduling builds it); this name stays for the modules that import it from here."""

from storage.workbooks.digest import *  # noqa: F403
