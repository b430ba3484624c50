"""Comms: the kernel side of Jupyter's comm_open / comm_msg / comm_close.

Targets are registered with ``CommManager.register_target(name, callback)``;
``callback(comm, open_msg)`` runs when a client opens a comm to that target.
"""

import uuid


class Comm:
    def __init__(self, manager, target_name="", data=None, metadata=None, buffers=None,
                 comm_id=None, primary=True, target_module=None):
        self.manager = manager
        self.comm_id = comm_id or uuid.uuid4().hex
        self.target_name = target_name
        self.primary = primary
        self._msg_callback = None
        self._close_callback = None
        self._closed = False
        manager.register_comm(self)
        if primary:
            content = {"comm_id": self.comm_id, "target_name": target_name, "data": data or {}}
            if target_module is not None:
                content["target_module"] = target_module
            manager.bridge.publish("comm_open", content, metadata, buffers)

    def send(self, data=None, metadata=None, buffers=None):
        if self._closed:
            raise RuntimeError(f"comm {self.comm_id} is closed")
        self.manager.bridge.publish("comm_msg", {"comm_id": self.comm_id, "data": data or {}}, metadata, buffers)

    def close(self, data=None, metadata=None, buffers=None, deleting=False):
        if self._closed:
            return
        self._closed = True
        if not deleting:
            self.manager.bridge.publish("comm_close", {"comm_id": self.comm_id, "data": data or {}},
                                        metadata, buffers)
        self.manager.unregister_comm(self)

    def on_msg(self, callback):
        self._msg_callback = callback

    def on_close(self, callback):
        self._close_callback = callback

    def handle_msg(self, msg):
        if self._msg_callback is not None:
            self._msg_callback(msg)

    def handle_close(self, msg):
        self._closed = True
        if self._close_callback is not None:
            self._close_callback(msg)


class CommManager:
    def __init__(self, bridge):
        self.bridge = bridge
        self.targets = {}
        self.comms = {}
        # ipykernel's manager (for ipywidgets), once code asked for it: the
        # delegate routes a client's message there and returns True if it did.
        self.foreign = None
        self.delegate = None

    def register_target(self, target_name, callback):
        self.targets[target_name] = callback

    def unregister_target(self, target_name, callback=None):
        return self.targets.pop(target_name, None)

    def register_comm(self, comm):
        self.comms[comm.comm_id] = comm
        return comm.comm_id

    def unregister_comm(self, comm):
        self.comms.pop(comm.comm_id, None)

    def new_comm(self, target_name, data=None, metadata=None, buffers=None, comm_id=None):
        return Comm(self, target_name, data, metadata, buffers, comm_id)

    def comm_info(self, target_name=None):
        comms = dict(self.comms)
        if self.foreign is not None:
            comms.update(self.foreign.comms)
        return {"comms": {comm_id: {"target_name": comm.target_name}
                          for comm_id, comm in comms.items()
                          if target_name is None or comm.target_name == target_name}}

    def handle(self, msg):
        """Handles a comm message from a client (msg is a Jupyter message dict)."""
        if self.delegate is not None and self.delegate(msg):
            return
        msg_type = msg["header"]["msg_type"]
        content = msg["content"]
        comm_id = content.get("comm_id")
        if msg_type == "comm_open":
            callback = self.targets.get(content.get("target_name"))
            if callback is None:
                self.bridge.publish("comm_close", {"comm_id": comm_id, "data": {}}, None, None)
                raise LookupError(f"no comm target named {content.get('target_name')!r}")
            comm = Comm(self, content.get("target_name"), comm_id=comm_id, primary=False)
            try:
                callback(comm, msg)
            except Exception:
                comm.close()
                raise
            return
        comm = self.comms.get(comm_id)
        if comm is None:
            raise LookupError(f"no comm with id {comm_id!r}")
        if msg_type == "comm_msg":
            comm.handle_msg(msg)
        elif msg_type == "comm_close":
            self.unregister_comm(comm)
            comm.handle_close(msg)
