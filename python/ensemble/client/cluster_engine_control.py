"""One engine of a Cluster, by its engine id: ``signal_engine``, ``stop_engine`` and
``restart_engine``. ipyparallel 7.1 names them but raises NotImplementedError ("How do
we find an engine by id?"); here the controller says which process each engine id is, and
only processes this Cluster started are touched."""

import asyncio
import os
import signal as signal_module

from .processes import end_processes, ours


class EngineControlMixin:
    async def _engine_process(self, engine_id):
        """(engine set id, pid) of engine ``engine_id``; KeyError if this Cluster did not
        start it or it is gone."""
        client = self._context_client
        own = client is None or client._closed
        if own:
            client = await self.connect_client()
        try:
            info = client._engine_info.get(engine_id) or {}
        finally:
            if own:
                client.close()
        pid = info.get("pid")
        for name, engine_set in self.engines.items():
            if pid and pid in engine_set.pids and ours(pid):
                return name, pid
        raise KeyError("engine %r is not a running engine this Cluster started" % (engine_id,))

    async def signal_engine(self, signum, engine_id):
        """Send ``signum`` (a number or a name such as ``"SIGINT"``) to engine ``engine_id``."""
        if isinstance(signum, str):
            signum = getattr(signal_module, signum)
        _, pid = await self._engine_process(engine_id)
        os.kill(pid, signum)

    async def stop_engine(self, engine_id):
        """Stop engine ``engine_id`` alone; it leaves the controller's ``ids``, and its engine
        set (emptied, the set too) no longer lists it."""
        name, pid = await self._engine_process(engine_id)
        await asyncio.to_thread(end_processes, [pid])
        self._forget_engine_pids(name, [pid])

    async def restart_engine(self, engine_id):
        """Stop engine ``engine_id`` and start one engine in its place, in the same engine
        set (under a new engine id, as the controller numbers each engine once)."""
        name, pid = await self._engine_process(engine_id)
        await asyncio.to_thread(end_processes, [pid])
        self._forget_engine_pids(name, [pid])
        added = await self.start_engines(1, engine_set_id="%s.restarting" % name)
        new_pids = self.engines.pop(added).pids
        engine_set = self.engines.get(name)
        if engine_set is None:
            self.engines[name] = self._engine_set_launcher({"n": 1, "pids": new_pids})
        else:
            engine_set["pids"] = engine_set.pids + new_pids
            engine_set["n"] = engine_set.n + 1

    def _forget_engine_pids(self, name, pids):
        engine_set = self.engines[name]
        left = [pid for pid in engine_set.pids if pid not in pids]
        if not left:
            del self.engines[name]
            return
        engine_set["pids"] = left
        engine_set["n"] = max(engine_set.n - len(pids), len(left))
