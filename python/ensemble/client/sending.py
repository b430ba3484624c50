"""Sending requests: the Client's futures are registered before each send, so
a reply can never arrive for a msg_id the event thread does not know."""

import json
from concurrent.futures import Future
from time import monotonic

from .. import error
from .coalescing import coalesce
from .futures import MessageFuture, track, untrack
from .metadata import _TEMPLATE, Metadata, request_metadata
from .util import execute_content, utcnow

try:  # the core files a request in C (request_book.cpp) as _file_request does here
    from .._core import configure_request_book
except ImportError:  # the sources without the built core, as tests/parallel import them
    pass
else:
    configure_request_book(MessageFuture, Metadata, _TEMPLATE)


class SendingMixin:
    def _check_open(self):
        if self._closed:
            raise RuntimeError("Client cannot be used after its sockets have been closed")
        if self._lost:
            raise error.EngineError("the connection to the controller was lost")

    def _register(self, msg_id, engine_id, submitted):
        """A MessageFuture for a request about to be sent (call with _lock held)."""
        # engine_id stays None until the reply comes (as in ipyparallel); the future knows it
        uuid = self._engines.get(engine_id) if engine_id is not None else None
        md = request_metadata(msg_id, submitted, uuid)
        future = MessageFuture(msg_id, md, engine_id)
        untrack(md, md["outputs"], future, future.output)  # see MessageFuture, "Out of the collector's view"
        future.engine_uuid = uuid
        self.metadata[msg_id] = md
        self._futures[msg_id] = future
        self.outstanding.add(msg_id)
        self._outstanding_dict[uuid].add(msg_id)
        self.history.append(msg_id)
        return future

    def _track_unresolved(self):
        """Put the unresolved futures (sent untracked) and their AsyncResults' lists back
        into the collector's view: each is in a cycle with its AsyncResult (``_owner``)
        that nothing will break once the client is closed, and that only the collector
        can free."""
        for future in list(self._futures.values()):  # a copy: the event thread may still let go of some
            owner = future._owner
            if owner is not None:
                track(future, future.output, owner._children)

    def _unregister(self, msg_ids):
        with self._lock:
            for msg_id in msg_ids:
                self._discard(msg_id)
                self.history.remove(msg_id)

    def _send_request(self, msg_type, content, engine_id, buffers=(), channel="shell",
                      fname=None, metadata=None):
        """Send a request to one engine (None: a task, whose engine the controller's
        scheduler picks); returns its MessageFuture. The connection files it (see
        file_and_send) and sends it."""
        return self._conn.send_request(self, msg_type, json.dumps(content) if content else "{}",
                                       metadata if type(metadata) is str else self._metadata_json(metadata),
                                       buffers, engine_id, channel)

    def _file_request(self, engine_id):
        """A request about to be sent, filed in this client's tables: its msg_id and
        MessageFuture. The core does this in C (request_book.cpp), line for line."""
        self._check_open()
        self._last_submit = monotonic()
        msg_id = self._new_msg_id()
        with self._lock:
            return msg_id, self._register(msg_id, engine_id, utcnow())

    def send_broadcast(self, msg_type, content, engine_ids, buffers=(), metadata=None, fname=None):
        """One request for several engines: the controller sends it on to each, under
        msg_id ``<msg_id>_<engine id>``, so it is serialized and sent once. Returns the
        engines' MessageFutures, in order; for a coalescing request (``metadata``
        ``is_coalescing``), one MessageFuture for all of them (coalescing.py)."""
        self._check_open()
        self._last_submit = monotonic()
        msg_id = self._new_msg_id()
        sub_ids = ["%s_%d" % (msg_id, eid) for eid in engine_ids]
        now = utcnow()
        metadata = dict(metadata or {}, targets=list(engine_ids), is_broadcast=True)
        coalescing = bool(metadata.get("is_coalescing"))
        with self._lock:
            futures = [self._register(sub, eid, now) for sub, eid in zip(sub_ids, engine_ids)]
            if coalescing:
                whole = coalesce(self, msg_id, futures, now, fname or msg_type)
        for future in futures:  # as ipyparallel's metadata says of each
            dict.update(future.metadata, is_broadcast=True, is_coalescing=coalescing)
        try:
            # the header's date is the futures' "submitted", as ipyparallel's is
            self._conn.send(msg_type, json.dumps(content), json.dumps(metadata), list(buffers),
                            -1, "broadcast", msg_id, now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        except Exception:
            if coalescing:
                with self._lock:
                    for sub in sub_ids:
                        self._discard(sub)
                self._unregister([msg_id])
            else:
                self._unregister(sub_ids)
            raise
        return [whole] if coalescing else futures

    def _metadata_json(self, metadata):
        # a view sends the same flags with every task: encode them once
        if not metadata:
            return "{}"
        # typed: {"retries": True} and {"retries": 1} are equal dicts but not the same JSON
        key = tuple((k, type(v), tuple(v) if type(v) is list else v) for k, v in metadata.items())
        last = self._last_metadata
        if last is not None and last[0] == key:
            return last[1]
        text = json.dumps(metadata)
        self._last_metadata = (key, text)
        return text

    def _new_msg_id(self):
        return self._msg_id_prefix + str(next(self._msg_counter))

    def _finish(self, future, result):
        """Record ``result`` for ``future`` and resolve it."""
        msg_id = future.msg_id
        with self._lock:
            resolves = future._owner
            # an owner takes it, and would drop it from here at once; a status query keeps none
            if (resolves is None or not resolves.owner) and not future.forget:
                self.results[msg_id] = result
            self.outstanding.discard(msg_id)
            self._outstanding_dict[future.engine_uuid].discard(msg_id)
            self._outstanding_dict[None].discard(msg_id)  # a task, filed before it had an engine
        if not future.done():
            future.set_result(result)

    def _output_complete(self, future):
        """A request's outputs are all in: resolve its output signal, and let
        go of it if its owner has its result (see _forget_when_complete)."""
        if not future.output.done():
            try:
                future.output.set_result(None)
            except Exception:  # resolved concurrently
                pass
        if future.forget:  # read after resolving: _forget_when_complete sets it first
            self._forget(future)

    def _forget_when_complete(self, future):
        """Its owning AsyncResult has the result: nothing here needs the
        future once its outputs are in too. Clients run for days, and every
        live future is scanned by each full garbage collection; a later
        get_result() for it asks the controller, as ipyparallel does once an
        owner has popped a result."""
        future.forget = True
        if future.output.done():  # read after setting: _output_complete reads it after resolving
            self._forget(future)

    def _forget(self, future):
        # Only this future: a get_result() since may have filed a new one
        # (from the controller) under the same msg_id.
        if self._futures.get(future.msg_id) is future:
            self._futures.pop(future.msg_id, None)

    def _discard(self, msg_id):
        future = self._futures.pop(msg_id, None)
        self.metadata.pop(msg_id, None)
        self.results.pop(msg_id, None)
        self.outstanding.discard(msg_id)
        if future is not None:
            self._outstanding_dict[future.engine_uuid].discard(msg_id)
            self._outstanding_dict[None].discard(msg_id)

    def _send_recv(self, msg_type, content=None, target=-1, channel="shell", timeout=30):
        """Send a request and return its reply message (a dict)."""
        waiter = self._send_waited(msg_type, content, target, channel)
        try:
            return waiter.result(timeout)
        except TimeoutError:
            raise error.TimeoutError("no %s reply within %s s"
                                     % (msg_type.replace("_request", ""), timeout)) from None

    def _send_waited(self, msg_type, content=None, target=-1, channel="shell"):
        self._check_open()
        if target < 0 and self._last_direct_replies:
            # The replies this client has had from engines directly reach the controller a
            # moment later, from the engines; it answers once it has them (the last from each
            # engine: an engine's copies arrive in order), so its answer agrees with what the
            # client has seen (docs/parallel-protocol.md, "Direct requests"); it asks those
            # engines to send the copies they hold.
            seen, self._last_direct_replies = self._last_direct_replies, {}
            content = dict(content or {}, sync=list(seen.values()), sync_engines=list(seen))
        msg_id = self._new_msg_id()
        waiter = Future()
        self._reply_waiters[msg_id] = waiter
        try:
            self._conn.send(msg_type, json.dumps(content or {}), "{}", [], target, channel,
                            msg_id)
            self._conn.flush()  # its caller waits for the reply: not held back behind a burst
        except Exception:
            self._reply_waiters.pop(msg_id, None)
            raise
        return waiter

    def send_apply_request(self, buffers, engine_id, metadata=None):
        """Send one apply_request (``buffers`` from ``serialize.pack_apply``)."""
        return self._send_request("apply_request", {}, engine_id, buffers=buffers,
                                  metadata=dict(metadata or {}, target=engine_id))

    def send_task(self, buffers, metadata):
        """Send one apply_request to the controller's scheduler, which picks the
        engine; ``metadata`` holds ipyparallel's flags (targets, after, follow,
        timeout, retries), as a dict or as its JSON."""
        return self._send_request("apply_request", {}, None, buffers=buffers, channel="task",
                                  metadata=metadata)

    def send_execute_request(self, code, engine_id, silent=True):
        return self._send_request("execute_request", execute_content(code, silent), engine_id)


def file_and_send(client, conn, msg_type, content, metadata, buffers, engine_id, channel):
    """``Connection.send_request`` in Python, for a connection without it (the tests'
    fake): files the request (Client._file_request), then sends it with ``conn.send``."""
    msg_id, future = client._file_request(engine_id)
    try:
        conn.send(msg_type, content, metadata, list(buffers), -1 if engine_id is None else engine_id, channel,
                  msg_id)
    except Exception:
        client._unregister([msg_id])
        raise
    return future
