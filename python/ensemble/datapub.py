"""``publish_data``: an engine sends data to the client while a request runs
(ipyparallel's ``datapub``). The client merges it into the request's
``ar.data``; a later call overwrites the keys it names."""

from . import serialize


def publish_data(data):
    """Send ``data`` (a dict) to the client that sent the running request."""
    from ._kernel.runtime import KernelRuntime

    runtime = KernelRuntime.instance
    if runtime is None:
        raise RuntimeError("publish_data works only inside a kernel or an engine")
    if not isinstance(data, dict):
        raise TypeError("publish_data takes a dict, not %s" % type(data).__name__)
    buffers = serialize.pack_result(data)
    runtime.bridge.publish("data_message", {"keys": [str(k) for k in data]}, None, buffers)
