"""IPython's history manager, over the kernel's history: IPython's history magics
(%history, %rerun, %recall, %save, %macro) work as under ipykernel.

This session's cells come from memory (the lists the runtime keeps, input_history.py);
other sessions, searches (%history -g) and tails (%history -l) from the kernel's store,
the C++ HistoryStore, which alone writes the database. So nothing here opens SQLite.
"""

from IPython.core.history import HistoryManager


class KernelHistoryManager(HistoryManager):
    def __init__(self, query=None, session=0, **kwargs):
        super().__init__(enabled=False, **kwargs)  # no database, no saving thread of its own
        self._query = query  # a history_request's content -> its reply's content
        self.session_number = session

    def end_session(self):
        """The kernel's store ends its session when the kernel exits, not at %reset."""

    def get_range(self, session=0, start=1, stop=None, raw=True, output=False):
        if session <= 0:
            session += self.session_number
        if session == self.session_number:
            return self._get_range_session(start, stop, raw, output)
        request = dict(hist_access_type="range", session=session, start=start, output=output)
        if stop is not None:
            request["stop"] = stop
        return iter(self._rows(request, output))

    def get_tail(self, n=10, raw=True, output=False, include_latest=False):
        # without the latest: that is the cell asking (%history -l), as IPython leaves it out
        rows = self._rows(dict(hist_access_type="tail", n=n + (0 if include_latest else 1),
                               output=output), output)
        return rows if include_latest else rows[:-1]

    def search(self, pattern="*", raw=True, search_raw=True, output=False, n=None, unique=False):
        return iter(self._rows(dict(hist_access_type="search", pattern=pattern, n=n or 0,
                                    unique=unique, output=output), output))

    def _rows(self, request, output):
        if self._query is None:
            return []
        reply = self._query(request)
        if reply.get("status") != "ok":
            return []
        if output:
            return [(session, line, (entry[0], entry[1])) for session, line, entry in reply["history"]]
        return [tuple(row) for row in reply["history"]]
