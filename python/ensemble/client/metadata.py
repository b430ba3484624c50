"""Per-request metadata and the result object of ``execute``."""

from .util import running_ipython


class Metadata(dict):
    """Metadata of one request, with a fixed set of keys readable as
    attributes. Dates are timezone-aware datetimes (UTC)."""

    _KEYS = (
        "msg_id", "submitted", "started", "completed", "received",
        "engine_uuid", "engine_id", "follow", "after", "status",
        "execute_input", "execute_result", "error", "stdout", "stderr",
        "outputs", "data", "is_broadcast", "is_coalescing",
    )

    def __init__(self, *args, **kwargs):
        # from a template: one per request, so it is on every task's path
        dict.__init__(self, _TEMPLATE)
        dict.__setitem__(self, "outputs", [])
        dict.__setitem__(self, "data", {})
        if args or kwargs:
            self.update(*args, **kwargs)

    def update(self, *args, **kwargs):
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __getattr__(self, key):
        if key in self:
            return self[key]
        raise AttributeError(key)

    def __setattr__(self, key, value):
        if key not in self:
            raise AttributeError(key)
        self[key] = value

    def __setitem__(self, key, value):
        if key not in self:
            raise KeyError(key)
        dict.__setitem__(self, key, value)


_TEMPLATE = dict.fromkeys(Metadata._KEYS)
_TEMPLATE.update(stdout="", stderr="", is_broadcast=False, is_coalescing=False)


def request_metadata(msg_id, submitted, engine_uuid):
    """A new request's Metadata: as ``Metadata(msg_id=..., ...)``, made in one
    C-level update (one per request sent).

    The caller takes it and its ``outputs`` list out of the cyclic garbage
    collector's view (futures.py, MessageFuture): they hold only strings, dates
    and JSON contents, which cannot lead back to them. A dict takes itself back
    into view when a value that can be tracked goes in (an error, say); the list
    stays out, as what goes in is JSON."""
    md = dict.__new__(Metadata)
    dict.update(md, _TEMPLATE, msg_id=msg_id, submitted=submitted, engine_uuid=engine_uuid, outputs=[], data={})
    return md


def _mime_repr(mime):
    """An IPython ``_repr_*_`` method showing the result's ``mime`` part."""
    def method(self):
        return self._repr_mime_(mime)
    return method


class ExecuteReply:
    """What ``view.execute`` returns per engine: the execution count and the
    ``execute_result`` (if any), displayable like the engine's output.

    The display methods are IPython's RichOutput's, written out: importing
    IPython here made every client import it (0.15 s, and 40k more objects
    for each full garbage collection to scan)."""

    def __init__(self, msg_id, content, metadata):
        self.msg_id = msg_id
        self._content = content
        self.execution_count = content.get("execution_count", 0)
        self.metadata = metadata

    def _result_part(self, key, default):
        result = self.metadata["execute_result"]
        return result.get(key, default) if result else default

    @property
    def source(self):
        return self._result_part("source", "")

    @property
    def data(self):
        return self._result_part("data", {})

    @property
    def _metadata(self):
        return self._result_part("metadata", {})

    def display(self):
        from IPython.display import publish_display_data

        publish_display_data(self.data, self._metadata)

    def _repr_mime_(self, mime):
        if mime not in self.data:
            return None
        if mime in self._metadata:
            return self.data[mime], self._metadata[mime]
        return self.data[mime]

    _repr_html_ = _mime_repr("text/html")
    _repr_latex_ = _mime_repr("text/latex")
    _repr_json_ = _mime_repr("application/json")
    _repr_javascript_ = _mime_repr("application/javascript")
    _repr_png_ = _mime_repr("image/png")
    _repr_jpeg_ = _mime_repr("image/jpeg")
    _repr_svg_ = _mime_repr("image/svg+xml")

    def _repr_mimebundle_(self, *args, **kwargs):
        data = dict(self.data)
        if "text/plain" in data:
            data["text/plain"] = self._plaintext()
        return data, self._metadata

    def __getitem__(self, key):
        return self.metadata[key]

    def __getattr__(self, key):
        if key.startswith("_") or key not in self.metadata:
            raise AttributeError(key)
        return self.metadata[key]

    def __repr__(self):
        text = self.data.get("text/plain", "")
        if len(text) > 32:
            text = text[:29] + "..."
        return "<ExecuteReply[%i]: %s>" % (self.execution_count, text)

    def _plaintext(self):
        text = self.data.get("text/plain", "")
        if not text:
            return ""
        try:
            ip = running_ipython()
            colors = "NoColor" if ip is None else ip.colors
        except Exception:
            colors = "NoColor"
        red, normal = ("", "") if colors == "NoColor" else ("\x1b[0;31m", "\x1b[0m")
        if "\n" in text and not text.startswith("\n"):
            text = "\n" + text
        return "%sOut[%s:%i]: %s%s" % (red, self.metadata["engine_id"], self.execution_count,
                                        normal, text)

    def _repr_pretty_(self, p, cycle):
        p.text(self._plaintext())
