"""The kernel's side of Jupyter's debugger protocol: each debug_request on control
carries a Debug Adapter Protocol (DAP) request, each debug_reply its response, and
debug_event on iopub carries DAP events. debugpy does the debugging; this relays.

Threads: the C++ I/O thread hands each request on through a pipe (kernel's
debug_channel.hpp); one Python thread, "debugger", reads it and the connection to
debugpy's adapter, and answers through the bridge. It runs Python, so it takes the GIL
while it works; it waits with the GIL released, so it answers while a cell is stopped at
a breakpoint or busy. debugpy's tracing leaves it alone (pydevd's do-not-trace marks).

What is answered here rather than by debugpy (as ipykernel answers them): the requests
Jupyter added to DAP (dumpCell, debugInfo, inspectVariables, richInspectVariables,
copyToGlobals, modules), source, configurationDone (sent to debugpy once, on attach),
and the variables panel while no cell is stopped (debug_variables.py)."""

import ast
import json
import os
import sys
import threading

from . import cell_files, debug_answers
from .dap import DapConnection, dap_response
from .debug_answers import PACKAGE_DIR
from .debug_variables import NamespaceView, rich_view

_INTERNAL_SEQ_BASE = 1 << 30  # our own requests to debugpy, apart from any a frontend numbers


class DebugRelay:
    def __init__(self, bridge, runtime, fd):
        self.bridge = bridge
        self.runtime = runtime
        self.fd = fd
        self.selector = None
        self.adapter = None  # DapConnection, while a frontend's debugging session lasts
        self.adapter_address = None  # debugpy.listen()'s, once: it cannot be called twice
        self.main_thread_traced = False
        self.attached = False  # a frontend's attach succeeded, and its session goes on
        self.dropped_transform = None  # where IPython's leading_empty_lines was, while a session is on
        self.awaiting_initialized = False  # an attach went on, and debugpy's "initialized" has not come
        self.forwarded = {}  # our seq -> (token or None, the request sent, the frontend's it answers or None)
        self.next_seq = _INTERNAL_SEQ_BASE
        self.breakpoints = {}  # source path -> its breakpoints, as last set
        self.stopped_threads = set()
        self.namespace_view = NamespaceView()

    # -- the thread -----------------------------------------------------

    def run(self, pending=b""):
        """The thread's loop, from what it read of the requests so far (``pending``)."""
        import selectors

        self.selector = selectors.DefaultSelector()
        self.selector.register(self.fd, selectors.EVENT_READ, "requests")
        *lines, pending = pending.split(b"\n")
        for line in lines:
            self._take_request(line)
        while True:
            for key, _ in self.selector.select():
                if key.data == "requests":
                    data = os.read(self.fd, 1 << 16)
                    if not data:  # the kernel is ending
                        self.selector.close()
                        os.close(self.fd)
                        return
                    pending += data
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        self._take_request(line)
                elif self.adapter is not None and key.fileobj is self.adapter.socket:
                    self._take_adapter_messages()

    def _take_request(self, line):
        try:
            request = json.loads(line)
            token, content = request["token"], request["content"]
        except (ValueError, KeyError, TypeError):
            print("debugger: unreadable request %r" % line[:200], file=sys.__stderr__)
            return
        if not isinstance(content, dict):
            self._reply(token, dap_response({}, False, message="a debug_request's content must be a DAP request"))
            return
        try:
            self._handle(token, content)
        except Exception as error:  # a bad request (or a debugpy failure) fails that request only
            self._reply(token, dap_response(content, False, message="%s: %s" % (type(error).__name__, error)))

    def _take_adapter_messages(self):
        try:
            messages = self.adapter.receive()
        except (OSError, ValueError) as error:
            print("debugger: connection to debugpy lost: %s" % error, file=sys.__stderr__)
            messages = None
        if messages is None:
            self._end_session("debugpy closed the connection")
            return
        for message in messages:
            try:
                if message.get("type") == "event":
                    self._on_event(message)
                elif message.get("type") == "response":
                    self._on_response(message)
            except Exception as error:
                print("debugger: cannot relay %r: %s" % (message, error), file=sys.__stderr__)

    def _reply(self, token, response):
        self.bridge.send_debug_reply(token, response)

    # -- requests -------------------------------------------------------

    def _handle(self, token, request):
        command = request.get("command")
        if command in _STATELESS:
            self._reply(token, _STATELESS[command](request))
        elif command in _LOCAL:
            self._reply(token, _LOCAL[command](self, request))
        elif command == "richInspectVariables":
            self._rich_inspect_variables(token, request)
        elif command == "initialize":
            self._start_session()
            self._forward(token, request)
        elif self.adapter is None:
            self._reply(token, dap_response(request, False, message="the debugger is not started: send initialize"))
        elif command == "attach":
            arguments = request.setdefault("arguments", {})
            host, port = self.adapter_address
            arguments["connect"] = {"host": host, "port": port}
            arguments.setdefault("justMyCode", True)
            # the kernel's own frames are not the user's code: no stepping into them
            arguments.setdefault("rules", []).append({"path": PACKAGE_DIR, "include": False})
            self.awaiting_initialized = True
            self._forward(token, request)
        elif command == "setBreakpoints":
            source = request.get("arguments", {}).get("source", {}).get("path")
            if source:
                self.breakpoints[source] = request["arguments"].get("breakpoints", [])
            self._forward(token, request)
        elif command == "variables" and not self.stopped_threads:
            self._reply(token, self._namespace_variables(request))
        elif command == "copyToGlobals":
            self._copy_to_globals(token, request)
        elif command == "disconnect":
            # Ending a debugging session never ends the kernel: debugpy would terminate the
            # process it is attached to (ipykernel 6.17 stops serving after it); shutting a
            # kernel down is shutdown_request's job.
            request.setdefault("arguments", {})["terminateDebuggee"] = False
            self._forward(token, request)
        elif command == "terminate":
            self._reply(token, dap_response(request, False, message="a kernel ends through shutdown_request"))
        else:
            self._forward(token, request)

    def _forward(self, token, request, answers=None):
        """Sends ``request`` on to debugpy under a seq of ours; its response goes back to
        ``token`` (None: an answer only this relay waits for) as the answer to the
        frontend's ``answers`` (default: ``request`` itself)."""
        seq = self.next_seq
        self.next_seq += 1
        self.forwarded[seq] = (token, request, answers)
        self.adapter.send(dict(request, seq=seq))

    def _start_session(self):
        if self.adapter is not None:
            return
        if self.adapter_address is None:
            # pydevd warns on stderr about frozen modules it cannot check; nothing for a user to do
            os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
            import debugpy

            # the adapter is a child process, run by the interpreter (sys.executable is
            # Debian's python3); a debugged cell's own child processes are not followed
            debugpy.configure(python=sys.executable, subProcess=False)
            self.adapter_address = debugpy.listen(("127.0.0.1", 0))
            # importing debugpy made breakpoint() debugpy's, which does nothing while no
            # frontend is attached: ours stops in the frontend's debugger while a session
            # is on, and opens pdb otherwise, as before any session
            sys.breakpointhook = self._breakpoint
        import selectors
        import socket

        sock = socket.create_connection(self.adapter_address, timeout=10)
        sock.settimeout(None)
        self.adapter = DapConnection(sock)
        self.selector.register(sock, selectors.EVENT_READ, "adapter")

    def _end_session(self, why):
        if self.adapter is not None:
            self.selector.unregister(self.adapter.socket)
            self.adapter.close()
            self.adapter = None
        for token, request, answers in self.forwarded.values():
            if token is not None:
                self._reply(token, dap_response(answers or request, False, message=why))
        self.forwarded.clear()
        self.awaiting_initialized = False
        self.attached = False
        self.breakpoints.clear()
        self.stopped_threads.clear()

    # -- what debugpy sends -----------------------------------------------

    def _on_event(self, event):
        name = event.get("event")
        body = event.get("body") or {}
        if name == "initialized" and self.awaiting_initialized:
            # debugpy answers the attach once configuration is done; frontends send
            # configurationDone after their breakpoints, which is answered here
            self.awaiting_initialized = False
            self._forward(None, {"type": "request", "command": "configurationDone", "arguments": {}})
        elif name == "stopped":
            if "threadId" in body:
                self.stopped_threads.add(body["threadId"])
        elif name == "continued":
            if body.get("allThreadsContinued", True):
                self.stopped_threads.clear()
            else:
                self.stopped_threads.discard(body.get("threadId"))
        self.bridge.publish_debug_event(event)

    def _on_response(self, response):
        token, request, answers = self.forwarded.pop(response.get("request_seq"), (None, None, None))
        if token is None:
            return
        if answers is not None:
            response = self._answer_from_evaluate(answers, response)
        else:
            if request.get("command") == "attach" and response.get("success"):
                self.attached = True
            after = _AFTER.get(request.get("command"))
            if after is not None:
                response = after(request, response)
            response["request_seq"] = request.get("seq", 0)
        self._reply(token, response)
        if request.get("command") == "disconnect":
            self._end_session("the debugging session ended")

    # -- Jupyter's own requests -------------------------------------------------

    def _debug_info(self, request):
        return dap_response(request, body={
            "isStarted": self.adapter is not None,
            "hashMethod": cell_files.HASH_METHOD,
            "hashSeed": cell_files.HASH_SEED,
            "tmpFilePrefix": cell_files.cell_file_prefix(),
            "tmpFileSuffix": cell_files.SUFFIX,
            "breakpoints": [{"source": path, "breakpoints": points} for path, points in self.breakpoints.items()],
            "stoppedThreads": sorted(self.stopped_threads),
            "richRendering": True,
            "exceptionPaths": ["Python Exceptions"],
        })

    def _inspect_variables(self, request):
        return dap_response(request, body={"variables": self.namespace_view.top(self.runtime.namespace)})

    def _namespace_variables(self, request):
        arguments = request.get("arguments", {})
        variables = self.namespace_view.children(arguments.get("variablesReference"),
                                                 int(arguments.get("start") or 0), int(arguments.get("count") or 0))
        if variables is None:
            return dap_response(request, False, message="no such variable reference")
        return dap_response(request, body={"variables": variables})

    def _rich_inspect_variables(self, token, request):
        """A variable's MIME bundle: of the stopped frame's, evaluated there by debugpy, or
        of the namespace's while no cell is stopped."""
        arguments = request.get("arguments", {})
        name = arguments.get("variableName", "")
        if not isinstance(name, str) or not name.isidentifier():
            # the panel's groups ("special variables") have nothing to show
            self._reply(token, dap_response(request, body={"data": {}, "metadata": {}}))
        elif self.stopped_threads:
            expression = "__import__('ensemble._kernel.debug_variables', fromlist=['_']).rich_view_json(%s)" % name
            self._evaluate_for(token, request, expression, arguments.get("frameId"), "clipboard")
        elif name not in self.runtime.namespace:
            self._reply(token, dap_response(request, False, message="no variable %r" % name))
        else:
            self._reply(token, dap_response(request, body=rich_view(self.runtime, self.runtime.namespace[name])))

    def _copy_to_globals(self, token, request):
        arguments = request.get("arguments", {})
        source, target = arguments.get("srcVariableName", ""), arguments.get("dstVariableName", "")
        if not (isinstance(source, str) and source.isidentifier() and isinstance(target, str)
                and target.isidentifier()):
            self._reply(token, dap_response(request, False, message="copyToGlobals needs two variable names"))
            return
        expression = "globals().__setitem__(%r, %s)" % (target, source)
        self._evaluate_for(token, request, expression, arguments.get("srcFrameId"), "repl")

    def _evaluate_for(self, token, request, expression, frame_id, context):
        """Answers ``request`` with what evaluating ``expression`` in a stopped frame gave."""
        evaluate = {"type": "request", "command": "evaluate",
                    "arguments": {"expression": expression, "frameId": frame_id, "context": context}}
        self._forward(token, evaluate, answers=request)

    def _answer_from_evaluate(self, request, response):
        if not response.get("success"):
            return dap_response(request, False, message=response.get("message", "evaluation failed"))
        if request.get("command") == "copyToGlobals":
            return dap_response(request)
        try:
            body = json.loads(ast.literal_eval(response["body"]["result"]))
        except (KeyError, ValueError, SyntaxError, TypeError) as error:
            return dap_response(request, False, message="no rich view: %s" % error)
        return dap_response(request, body=body)

    # -- the main thread ------------------------------------------------------

    def _breakpoint(self, *args, **kwargs):
        caller = sys._getframe(1)
        if not self.attached:
            import pdb

            pdb.Pdb().set_trace(caller)
            return
        import pydevd

        # what debugpy.breakpoint() does, stopping in the caller rather than in this hook
        pydevd.settrace(suspend=True, trace_only_current_thread=True, patch_multiprocessing=False,
                        stop_at_frame=caller, notify_stdin=False)

    def follow_session(self):
        """Called by the main thread before each cell, and when it creates IPython's shell.
        While a frontend is attached, the main thread is traced by debugpy (debugpy.listen
        traced only this relay's thread) and IPython keeps a cell's leading empty lines;
        once the session is over, neither: cells run at full speed again (traced, a loop
        ran 2.5 times slower; under ipykernel 6.17 it stays that way)."""
        if threading.current_thread() is not threading.main_thread():
            return  # e.g. the shell created by this relay's own rich view of a variable
        wanted = self.attached
        if wanted != self.main_thread_traced:
            if wanted:
                import debugpy

                debugpy.debug_this_thread()
            else:
                import pydevd_tracing  # debugpy's own tracer setter: it replaced sys.settrace

                pydevd_tracing.SetTrace(None)
            self.main_thread_traced = wanted
        shell = self.runtime._shell
        if shell is not None and wanted != (self.dropped_transform is not None):
            self._keep_leading_empty_lines(shell, wanted)

    def _keep_leading_empty_lines(self, shell, keep):
        """IPython drops a cell's leading empty lines, which moves its code off the lines a
        frontend set breakpoints on: not while a session is on (as ipykernel does)."""
        from IPython.core.inputtransformer2 import leading_empty_lines

        cleanup = shell.input_transformer_manager.cleanup_transforms
        if keep:
            if leading_empty_lines in cleanup:
                self.dropped_transform = cleanup.index(leading_empty_lines)
                cleanup.remove(leading_empty_lines)
            else:
                self.dropped_transform = -1  # someone else's doing: nothing to put back
        else:
            if self.dropped_transform >= 0 and leading_empty_lines not in cleanup:
                cleanup.insert(self.dropped_transform, leading_empty_lines)
            self.dropped_transform = None


# Answered here whether or not debugpy runs: from the request alone, or from the relay too.
_STATELESS = {
    "dumpCell": debug_answers.dump_cell,
    "configurationDone": debug_answers.configuration_done,
    "source": debug_answers.source,
    "modules": debug_answers.modules,
}
_LOCAL = {
    "debugInfo": DebugRelay._debug_info,
    "inspectVariables": DebugRelay._inspect_variables,
}

# What debugpy's response to a frontend's request becomes before it goes back.
_AFTER = {
    "stackTrace": debug_answers.trim_stack,
    "variables": debug_answers.hide_machinery,
}
