"""What a Client knows of the engines and how it reaches each: the roster
(``_engines``: id -> uuid, as in ipyparallel; ``_engine_info``: what the
controller said of each), kept up to date from the controller's
registration notifications as they are read, and each engine's direct
endpoint (docs/parallel-protocol.md, "Direct requests")."""

import logging
import os
import socket

from .. import error

log = logging.getLogger("ensemble.client")


_LOOPBACK = ("127.", "localhost", "::1")


def direct_endpoint(info, config):
    """Where a client with this controller ``config`` (its client file) can
    reach the kernel shell socket an engine registered (``info["shell"]``), or
    None: not named, turned off (``ENSEMBLE_DIRECT=0``), or bound where only
    its own host can reach it and this is another host."""
    endpoint = info.get("shell")
    if not endpoint or os.environ.get("ENSEMBLE_DIRECT", "1") == "0":
        return None
    same_host = info.get("hostname") == socket.gethostname()
    if endpoint.startswith("ipc://"):
        return endpoint if same_host else None
    if not endpoint.startswith("tcp://"):
        return None
    host, _, port = endpoint[len("tcp://"):].rpartition(":")
    if host in ("*", "0.0.0.0", ""):  # bound everywhere: reachable where the controller is
        host = config.get("ip") or "127.0.0.1"
        if host in ("*", "0.0.0.0"):
            host = "127.0.0.1"
    if host.startswith(_LOOPBACK) and not same_host:
        return None
    return "tcp://%s:%s" % (host, port)


class EngineRosterMixin:
    def _add_engine(self, eid, info):
        # call with _lock held
        self._engine_info[eid] = info
        self._engines[eid] = str(info.get("uuid") or eid)

    def _on_notification(self, msg_type, content):
        """Controller notifications, on the thread that reads events (turns.py)."""
        if msg_type == "registration_notification":
            eid = int(content["id"])
            info = {k: v for k, v in content.items() if k != "id"}
            self._connect_direct(eid, info)  # before any request can be made for it
            with self._lock:
                self._add_engine(eid, info)
                self._ids = sorted(self._engines)
            event = dict(content, event="register")
        elif msg_type == "unregistration_notification":
            eid = int(content["id"])
            with self._lock:
                uuid = self._engines.pop(eid, None)
                self._engine_info.pop(eid, None)
                self._ids = sorted(self._engines)
            self._direct.pop(eid, None)
            forget = getattr(self._conn, "forget_engine", None)
            if forget is not None:
                forget(eid)
            self._fail_stranded(eid, uuid)
            event = dict(content, event="unregister")
        elif msg_type == "shutdown_notification":
            self._on_lost()
            return
        else:
            return
        for callback in list(self._registration_callbacks):
            try:
                callback(event)
            except Exception:
                pass

    def _limit_direct_engines(self):
        most = os.environ.get("ENSEMBLE_DIRECT_ENGINES")
        if not most or not hasattr(self._conn, "set_most_direct"):
            return
        try:
            self._conn.set_most_direct(int(most))
        except ValueError:
            self._conn.close()
            raise ValueError("ENSEMBLE_DIRECT_ENGINES must be a whole number, not %r" % most) from None

    def _connect_direct(self, eid, info):
        """Sends engine ``eid``'s requests straight to its kernel's shell socket
        when this client can reach it (docs/parallel-protocol.md, "Direct
        requests"); otherwise they keep going through the controller."""
        endpoint = direct_endpoint(info, self._config)
        connect = getattr(self._conn, "connect_engine", None)
        if endpoint is None or connect is None or self._direct.get(eid) == endpoint:
            return
        try:
            connect(eid, endpoint)
        except Exception as exc:
            log.warning("engine %s: not reachable directly at %s (%s); going through the controller",
                        eid, endpoint, exc)
            return
        self._direct[eid] = endpoint

    def _fail_stranded(self, eid, uuid):
        if uuid is None:  # an engine this client never knew (None files unassigned tasks)
            return
        for msg_id in list(self._outstanding_dict.get(uuid, ())):
            future = self._futures.get(msg_id)
            if future is not None and not future.done():
                self._finish(future, error.remote_error(
                    "EngineError", "Engine %r died while running task %r" % (eid, msg_id), "",
                    {"engine_id": eid}))
                self._output_complete(future)
