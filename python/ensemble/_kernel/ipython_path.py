"""The runtime's IPython path: when a cell needs IPython, the shell it starts (lazily, as
late as it can), and how a cell IPython ran is reported. Part of KernelRuntime."""

import builtins
import keyword
import re
import sys

# A one-line cell that starts with a name: IPython runs it as a magic or an alias (`pwd`,
# `ls`, `cd dir`) when that name is one and nothing in the namespace shadows it.
_AUTOMAGIC_CANDIDATE = re.compile(r"\s*([A-Za-z_][\w.]*)(.*)\Z", re.DOTALL)


def _cell_code_name(raw_code, transformed_code, number):
    from .cell_files import cell_file_name

    return cell_file_name(raw_code)


class IPythonPath:
    def get_ipython(self):
        if self._shell is None:
            if self._creating_shell:  # IPython's import hook fired while we import it
                return None
            self._creating_shell = True
            try:
                from .ipython_shell import create_shell
                self._shell = create_shell(self, self.namespace)
            finally:
                self._creating_shell = False
            self._shell.execution_count = self.execution_count
            # IPython's own exit takes no keep_kernel; ours does, as ipykernel's
            for name in ("exit", "quit"):
                self.namespace[name] = self._shell.user_ns_hidden[name] = self._exit
            self.history.adopt(self._shell.history_manager)
            names = getattr(self._shell.compile, "_filename_map", None)
            if isinstance(names, dict):
                self._cell_numbers.update(names)
                self._shell.compile._filename_map = self._cell_numbers
            # its cells are named as the plain path names them: where a frontend's
            # debugger expects each cell (cell_files.py)
            self._shell.compile.get_code_name = _cell_code_name
            from .ipykernel_compat import create_kernel_facade
            self._shell.kernel = create_kernel_facade(self, self._shell)
            builtins.get_ipython = self.get_ipython
            sys.displayhook = self.displayhook
            if self._debugger is not None:  # a frontend's debugger may be attached
                self._debugger.follow_session()
        return self._shell

    def _install_ipython_import_hook(self):
        """Creates the shell as soon as user code imports IPython, so that
        IPython.display.display() and get_ipython() behave as under ipykernel."""
        runtime = self

        class Finder:
            @staticmethod
            def find_spec(name, path=None, target=None):
                if name != "IPython" or finder not in sys.meta_path:
                    return None
                sys.meta_path.remove(finder)
                import importlib.util
                spec = importlib.util.find_spec(name)
                if spec is None or spec.loader is None:
                    return spec
                original = spec.loader.exec_module

                def exec_module(module):
                    original(module)
                    runtime.get_ipython()

                spec.loader.exec_module = exec_module
                return spec

        finder = Finder()
        sys.meta_path.insert(0, finder)

    def _automagic(self, code):
        """Whether IPython would run this cell as a magic called without its `%`: only a
        one-line cell (as IPython 8 prefilters), whose first name no variable, builtin or
        keyword shadows, and which does not assign to that name."""
        stripped = code.strip()
        if not stripped or "\n" in stripped:
            return False
        match = _AUTOMAGIC_CANDIDATE.match(stripped)
        if match is None or match.group(2).lstrip()[:1] in ("=", ","):
            return False
        name = match.group(1)
        head = name.split(".", 1)[0]
        if head in self.namespace:
            # a macro named alone runs its code, as IPython's prefilter does
            value = self.namespace[head]
            return name == head and not match.group(2).strip() and type(value).__name__ == "Macro" \
                and type(value).__module__ == "IPython.core.macro"
        if hasattr(builtins, head) or keyword.iskeyword(head):
            return False
        shell = self.get_ipython()
        return bool(shell is not None and shell.automagic and shell.find_magic(name))

    def _ipython_changes(self, code):
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(code) != code + ("\n" if not code.endswith("\n") else "")

    def _transformed(self, code):
        """The code IPython will run for this cell (its history's "parsed" input)."""
        try:
            return self.get_ipython().transform_cell(code)
        except Exception:  # run_cell reports it
            return code

    def _run_ipython(self, code, silent):
        shell = self.get_ipython()
        return shell.run_cell(code, store_history=False, silent=silent)

    def _settle(self, result):
        """A cell IPython ran failed if IPython's result says so, as under ipykernel: a
        traceback shown by a cell that did not fail (%tb) is output; a cell that failed
        without one (a magic's UsageError, which IPython prints) is an error all the same."""
        failure = result.error_before_exec or result.error_in_exec
        if failure is None:
            if self._error is not None:
                if not self._error.get("error_shown"):
                    self.bridge.publish("error", self._error)
                self._error = None
        elif self._error is None:
            self._error = {"ename": type(failure).__name__, "evalue": str(failure), "traceback": [],
                           "error_shown": True}

    def _ipython_complete(self, code, cursor_pos):
        """IPython's completer (with jedi where installed), as ipykernel calls it; None if
        IPython is missing or its completer fails."""
        shell = self.get_ipython()
        if shell is None:
            return None
        try:
            from IPython.core.completer import provisionalcompleter, rectify_completions

            with provisionalcompleter():
                found = list(rectify_completions(code, shell.Completer.completions(code, cursor_pos)))
        except Exception:
            return None
        if not found:
            return {"matches": [], "cursor_start": cursor_pos, "cursor_end": cursor_pos, "metadata": {}}
        types = [dict(start=c.start, end=c.end, text=c.text, type=c.type, signature=c.signature) for c in found]
        return {"matches": [c.text for c in found], "cursor_start": found[0].start, "cursor_end": found[0].end,
                "metadata": {"_jupyter_types_experimental": types}}
