"""IPython, brought in only when a cell or an object needs it.

The shell shares the kernel's namespace and sends everything through the
runtime, so magics, rich display and IPython's tracebacks look exactly as
they do under ipykernel.
"""

from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.display_trap import DisplayTrap
from IPython.core.interactiveshell import InteractiveShell
from IPython.core import page, payloadpage
from traitlets import Any
from traitlets.config import Config


class _DisplayHook(DisplayHook):
    runtime = Any()

    def __init__(self, **kwargs):
        # IPython's hook empties _, __ and ___ as it starts; the shell starts late here,
        # after cells whose results they hold
        namespace = kwargs["shell"].user_ns
        kept = {name: namespace[name] for name in ("_", "__", "___") if name in namespace}
        super().__init__(**kwargs)
        namespace.update(kept)

    def __call__(self, result=None):
        # The runtime's hook does the bookkeeping (Out, _, history output); run_cell's
        # ExecutionResult.result is the value shown, as with IPython's own hook.
        if self.runtime.displayhook(result):
            self.fill_exec_result(result)


class _DisplayPublisher(DisplayPublisher):
    runtime = Any()

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        self.runtime.publish_display(data, metadata, transient, update)

    def clear_output(self, wait=False):
        self.runtime.clear_output(wait)


class EnsembleShell(InteractiveShell):
    runtime = Any()

    def init_displayhook(self):
        self.displayhook = _DisplayHook(parent=self, shell=self, runtime=self.runtime)
        self.configurables.append(self.displayhook)
        self.display_trap = DisplayTrap(hook=self.displayhook)

    def init_display_pub(self):
        self.display_pub = _DisplayPublisher(shell=self, runtime=self.runtime, parent=self)

    def init_history(self):
        from .ipython_history import KernelHistoryManager

        bridge = self.runtime.bridge
        query = getattr(bridge, "history", None)
        self.history_manager = KernelHistoryManager(
            shell=self, parent=self, query=query,
            session=bridge.history_session() if query is not None else 0)
        self.configurables.append(self.history_manager)

    def _showtraceback(self, etype, evalue, stb):
        self.runtime.record_error(etype.__name__, str(evalue), stb)

    def ask_exit(self):
        self.runtime.payload.append({"source": "ask_exit", "keepkernel": False})

    def set_next_input(self, text, replace=False):
        self.runtime.payload.append({"source": "set_next_input", "text": text, "replace": replace})

    def enable_gui(self, gui=None):
        if gui not in (None, "inline"):
            raise NotImplementedError(f"the Ensemble kernel has no '{gui}' event loop integration")


def create_shell(runtime, namespace):
    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "Linux"
    config.InteractiveShell.xmode = "Context"
    shell = EnsembleShell.instance(config=config, runtime=runtime, user_ns=namespace)
    shell.set_hook("show_in_pager", page.as_hook(payloadpage.page), 99)
    from .kernel_magics import KernelMagics

    shell.register_magics(KernelMagics)
    # as IPython's kernel and terminal apps do: %store is there from the start
    shell.extension_manager.load_extension("storemagic")
    # IPython's cells await on the runtime's loop, so both paths share their tasks
    from IPython.core import async_helpers

    async_helpers._asyncio_event_loop = runtime.event_loop()
    return shell
