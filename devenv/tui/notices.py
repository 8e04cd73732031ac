"""The notices the user was shown, kept so they can be read again (key `e`).

A toast disappears after a few seconds; a log file that cannot be written or a
configuration edit that was refused must stay readable. The list is small and
bounded (the newest `limit`), and counts the warnings and errors not yet seen,
which the header shows until the list is opened. No Textual here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from devenv.events import Notice

SEVERITY = {"info": "information", "warning": "warning", "error": "error"}
TIMEOUT = {"info": 4.0, "warning": 8.0, "error": 15.0}


class NoticeLog:
    def __init__(self, limit: int = 100) -> None:
        self._items: deque[Notice] = deque(maxlen=limit)
        self.unread = 0  # warnings and errors added since the list was last opened

    def add(self, notice: Notice) -> None:
        self._items.append(notice)
        if notice.level != "info":
            self.unread += 1

    def mark_read(self) -> None:
        self.unread = 0

    def __iter__(self) -> Iterator[Notice]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
