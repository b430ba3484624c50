"""This session's inputs and outputs as IPython keeps them in the namespace: ``In``/``_ih``
(``In[n]`` is cell n), ``Out``/``_oh``, and ``_i``, ``_ii``, ``_iii``, ``_i<n>``.

The lean path keeps them without IPython. Once the IPython shell exists, its history
manager's lists are these very objects (see adopt), so ``%history``, ``%rerun``,
``%save``, ``%macro`` and ``%recall`` see every cell, including those before the shell.
"""


class InputHistory:
    def __init__(self, namespace):
        self._namespace = namespace
        self.parsed = [""]  # as run (IPython's transformed code)
        self.raw = [""]  # as typed
        self.outputs = {}
        self.output_reprs = {}  # text/plain of each output, for %history -o
        self._previous = ("", "", "")  # _i, _ii, _iii for the next cell
        self._last = ""  # the cell being run: the next cell's _i
        namespace.update(In=self.parsed, _ih=self.parsed, Out=self.outputs, _oh=self.outputs,
                         _i="", _ii="", _iii="")

    def store(self, count, raw, parsed=None):
        """Cell ``count``'s source, before it runs (as IPython stores it)."""
        raw = raw.rstrip("\n")
        parsed = raw if parsed is None else parsed.rstrip("\n")
        for lines in (self.parsed, self.raw):
            # In[n] stays cell n, even after %reset emptied the lists and the count went on
            while len(lines) < count:
                lines.append("")
        self.parsed.append(parsed)
        self.raw.append(raw)
        i, ii, _ = self._previous
        self._previous = (self._last, i, ii)
        self._last = raw
        namespace = self._namespace
        namespace["_i"], namespace["_ii"], namespace["_iii"] = self._previous
        namespace["_i%d" % count] = raw

    def adopt(self, manager):
        """Make IPython's history manager keep its lists in these, with the cells so far."""
        manager.input_hist_parsed[:] = self.parsed
        manager.input_hist_raw[:] = self.raw
        manager.output_hist.update(self.outputs)
        manager.output_hist_reprs.update(self.output_reprs)
        # the shell's namespace (In, _ih, Out, _oh) already holds the manager's objects
        self.parsed, self.raw = manager.input_hist_parsed, manager.input_hist_raw
        self.outputs, self.output_reprs = manager.output_hist, manager.output_hist_reprs
