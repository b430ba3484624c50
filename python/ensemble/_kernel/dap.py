"""The Debug Adapter Protocol's side of the kernel's debugger (debugger.py): a response
to a request, and DAP's framing over the connection to debugpy's adapter."""

import json


def dap_response(request, success=True, body=None, message=None):
    """The response to ``request`` (a DAP request's dict)."""
    answer = {"type": "response", "seq": request.get("seq", 0), "request_seq": request.get("seq", 0),
              "command": request.get("command", ""), "success": success, "body": body or {}}
    if message is not None:
        answer["message"] = message
    return answer


class DapConnection:
    """DAP's framing (a Content-Length header, then JSON) over a socket to debugpy."""

    def __init__(self, sock):
        self.socket = sock
        self._buffer = b""

    def send(self, message):
        body = json.dumps(message).encode("utf-8")
        self.socket.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def receive(self):
        """The messages that arrived whole; None once debugpy closed the connection."""
        data = self.socket.recv(1 << 16)
        if not data:
            return None
        self._buffer += data
        messages = []
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return messages
            length = None
            for line in self._buffer[:end].split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise ValueError("a DAP message without Content-Length: %r" % self._buffer[:end])
            if len(self._buffer) - end - 4 < length:
                return messages
            body, self._buffer = self._buffer[end + 4:end + 4 + length], self._buffer[end + 4 + length:]
            messages.append(json.loads(body))

    def close(self):
        self.socket.close()
