"""Re-display of engine outputs (stdout, stderr, displays, results) on the
client, as ``[stdout:N]`` blocks; used by AsyncResult and the %px magics."""

import sys
from contextlib import contextmanager, nullcontext
from functools import partial

from .util import running_ipython


def _get_ipython():
    return running_ipython()


def _raw_text(text):
    from IPython.display import display_pretty

    display_pretty(text, raw=True)


class OutputDisplay:
    """Mixin for AsyncResult: needs ``_children``, ``_targets``,
    ``_single_result``, ``wait_for_output``, ``get`` and metadata access."""

    _last_display_prefix = ""
    _stream_trailing_newline = True

    def _display_stream(self, text, prefix="", file=None):
        if not text:
            return
        file = sys.stdout if file is None else file
        if prefix:
            if prefix == self._last_display_prefix:
                prefix = ""
            else:
                self._last_display_prefix = prefix
        pre = "\n" if prefix and not self._stream_trailing_newline else ""
        sep = "\n" if prefix else ""
        self._stream_trailing_newline = text.endswith("\n")
        print(f"{pre}{prefix}{sep}{text}", file=file, end="")

    def _republish_displaypub(self, content, eid):
        ip = _get_ipython()
        if ip is None:
            return
        md = dict(content.get("metadata") or {})
        md["engine"] = eid
        ip.display_pub.publish(data=content["data"], metadata=md)

    def _engine_ids(self):
        return [md["engine_id"] if md["engine_id"] is not None else child.engine_id
                for md, child in zip(self._metadata, self._children)]

    @contextmanager
    def stream_output(self):
        """While inside, print each engine's stdout/stderr as it arrives."""
        self._last_display_prefix = ""
        self._stream_trailing_newline = True
        registered = []
        lock = getattr(self._client, "_iopub_lock", None) or nullcontext()
        for child in self._children:
            callback = partial(self._on_streamed_message, child)
            # Under the lock the reading thread holds while it files an output and reads the
            # callbacks: what came before is shown from the metadata, the rest by the callback.
            # Without it, outputs of a quick request that came before this call went unshown.
            with lock:
                self._show_streamed_so_far(child)
                child.add_iopub_callback(callback)
            registered.append((child, callback))
        try:
            yield
        finally:
            for child, callback in registered:
                child.remove_iopub_callback(callback)

    def _show_streamed_so_far(self, child):
        md = child.metadata
        eid = child.engine_id if child.engine_id is not None else md["engine_id"]
        for name in ("stdout", "stderr"):
            self._display_stream(md[name], f"[{name}:{eid}] ", file=getattr(sys, name, sys.stdout))
        if md["outputs"] and _get_ipython() is not None:
            for content in md["outputs"]:
                _raw_text("[output:%i]" % eid)
                self._republish_displaypub(content, eid)

    def _on_streamed_message(self, child, msg):
        msg_type = msg["header"].get("msg_type")
        eid = child.engine_id if child.engine_id is not None else child.metadata["engine_id"]
        content = msg["content"]
        if msg_type == "stream":
            name = content.get("name", "stdout")
            self._display_stream(content.get("text", ""), f"[{name}:{eid}] ",
                                 file=getattr(sys, name, sys.stdout))
        elif msg_type == "display_data" and _get_ipython() is not None:
            _raw_text("[output:%i]" % eid)
            self._republish_displaypub(content, eid)

    def _display_single_result(self, result_only=False):
        md = self._metadata[0]
        if not result_only:
            self._display_stream(md["stdout"])
            self._display_stream(md["stderr"], file=sys.stderr)
        if _get_ipython() is None:
            return
        if not result_only:
            for output in md["outputs"]:
                self._republish_displaypub(output, md["engine_id"])
        if md["execute_result"] is not None:
            from IPython.display import display

            display(self.get())

    def display_outputs(self, groupby="type", result_only=False):
        """Re-publish the outputs: grouped by ``type`` (all stdout, then all
        stderr, ...), by ``engine``, or by ``order`` (displays collated)."""
        self._check_ready()
        self.wait_for_output()
        # Each display starts its own blocks: an AsyncResult streamed before (a blocking %px,
        # then %pxresult) kept its last stream's prefix, and the first block of the same engine
        # came without its header (ipyparallel 7.1 does that).
        self._last_display_prefix = ""
        if self._single_result:
            self._display_single_result(result_only=result_only)
            return
        if groupby not in ("type", "engine", "order"):
            raise ValueError("groupby must be one of 'type', 'engine', 'collate', not %r"
                             % groupby)
        from IPython.display import display

        mds = self._metadata
        results = self.get()
        ids = self._engine_ids()
        in_ipython = _get_ipython() is not None
        if groupby == "engine":
            for eid, md, r in zip(ids, mds, results):
                if not result_only:
                    self._display_stream(md["stdout"], "[stdout:%i] " % eid)
                    self._display_stream(md["stderr"], "[stderr:%i] " % eid, file=sys.stderr)
                if not in_ipython:
                    continue
                if (md["outputs"] and not result_only) or md["execute_result"] is not None:
                    _raw_text("[output:%i]" % eid)
                if not result_only:
                    for output in md["outputs"]:
                        self._republish_displaypub(output, eid)
                if md["execute_result"] is not None:
                    display(r)
            return
        if not result_only:
            for eid, md in zip(ids, mds):
                self._display_stream(md["stdout"], "[stdout:%i] " % eid)
            for eid, md in zip(ids, mds):
                self._display_stream(md["stderr"], "[stderr:%i] " % eid, file=sys.stderr)
        if not in_ipython:
            return
        if not result_only:
            if groupby == "order":
                longest = max(len(md["outputs"]) for md in mds)
                for i in range(longest):
                    for eid, md in zip(ids, mds):
                        if len(md["outputs"]) > i:
                            _raw_text("[output:%i]" % eid)
                            self._republish_displaypub(md["outputs"][i], eid)
            else:
                for eid, md in zip(ids, mds):
                    if md["outputs"]:
                        _raw_text("[output:%i]" % eid)
                    for output in md["outputs"]:
                        self._republish_displaypub(output, eid)
        for md, r in zip(mds, results):
            if md["execute_result"] is not None:
                display(r)
