"""An AsyncResult's timings (ipyparallel's names): how long its requests took, from
the metadata's datetimes."""

from datetime import datetime

from .util import compare_datetimes, utcnow


class ResultTiming:
    """Mixed into AsyncResult, which provides ``_children``, ``_metadata``, ``ready()``,
    ``_check_ready()`` and the ``submitted``/``received`` metadata."""

    def timedelta(self, start, end, start_key=min, end_key=max):
        """Seconds between ``start_key(start)`` and ``end_key(end)``."""
        if not isinstance(start, datetime):
            start = start_key(start)
        if not isinstance(end, datetime):
            end = end_key(end)
        return compare_datetimes(end, start).total_seconds()

    @property
    def progress(self):
        """How many of the requests have finished."""
        return sum(1 for child in self._children if child.done())

    @property
    def elapsed(self):
        """Seconds since submission (until completion once ready)."""
        if self.ready():
            return self.wall_time
        stamps = [md["submitted"] for md in self._metadata if md["submitted"]]
        if not stamps:
            return 0.0
        return compare_datetimes(utcnow(), min(stamps)).total_seconds()

    @property
    def serial_time(self):
        """Sum over requests of (completed - started)."""
        self._check_ready()
        total = 0.0
        for md in self._metadata:
            if md["completed"] and md["started"]:
                total += compare_datetimes(md["completed"], md["started"]).total_seconds()
        return total

    @property
    def wall_time(self):
        """Seconds from the first submission to the last reply received."""
        self._check_ready()
        return self.timedelta(self.submitted, self.received)
