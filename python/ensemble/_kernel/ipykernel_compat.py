"""Code written for ipykernel (ipywidgets above all) reaches the kernel via
``get_ipython().kernel``: its ``comm_manager``, ``session.send`` to the
``iopub_socket``, and ``get_parent()``. This module provides that object as
a real ``ipykernel.kernelbase.Kernel`` subclass (ipykernel's Comm insists on
one) whose sending goes through the Ensemble bridge. Without ipykernel
installed, a plain object with the same attributes stands in.
"""


class _PlainKernelFacade:
    def __init__(self, runtime, shell):
        self._runtime = runtime
        self.shell = shell
        self.comm_manager = runtime.comms
        self.session = self
        self.iopub_socket = "iopub"

    def get_parent(self, channel="shell"):
        return self._runtime.bridge.parent_header()

    def send(self, stream, msg_or_type, content=None, parent=None, ident=None, buffers=None,
             track=False, header=None, metadata=None):
        self._runtime.bridge.publish(msg_or_type, content or {}, metadata, buffers)


def create_kernel_facade(runtime, shell):
    try:
        from ipykernel.comm import CommManager as IpykernelCommManager
        from ipykernel.kernelbase import Kernel
        from jupyter_client.session import Session
    except ImportError:
        return _PlainKernelFacade(runtime, shell)

    bridge = runtime.bridge

    class BridgeSession(Session):
        def send(self, stream, msg_or_type, content=None, parent=None, ident=None, buffers=None,
                 track=False, header=None, metadata=None):
            msg_type = msg_or_type if isinstance(msg_or_type, str) else msg_or_type["header"]["msg_type"]
            if not isinstance(msg_or_type, str):
                content = msg_or_type.get("content", content)
                metadata = msg_or_type.get("metadata", metadata)
            bridge.publish(msg_type, content or {}, metadata, buffers)

    class EnsembleKernelFacade(Kernel):
        implementation = "ensemble"
        implementation_version = "0"
        banner = ""

        def get_parent(self, channel="shell"):
            return bridge.parent_header()

    facade = EnsembleKernelFacade.instance(session=BridgeSession(), iopub_socket="iopub")
    facade.shell = shell  # ipykernel's Comm fires the shell's execute events around callbacks
    facade.comm_manager = IpykernelCommManager(kernel=facade)
    runtime.comms.foreign = facade.comm_manager
    runtime.comms.delegate = _delegate_to(facade.comm_manager, runtime.comms)
    return facade


def _delegate_to(foreign, ours):
    """Routes a client's comm message to ipykernel's manager when it is for
    a target or comm that manager knows (or nobody knows)."""

    def delegate(msg):
        msg_type = msg["header"]["msg_type"]
        content = msg["content"]
        if msg_type == "comm_open":
            if content.get("target_name") in ours.targets:
                return False
        elif content.get("comm_id") in ours.comms or content.get("comm_id") not in foreign.comms:
            return False
        getattr(foreign, msg_type)(None, None, msg)
        return True

    return delegate
