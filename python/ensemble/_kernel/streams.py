"""sys.stdout / sys.stderr replacements that hand text to the C++ kernel.

The kernel batches the text and publishes it on iopub; any thread may write.
"""

import io
import os


class KernelStream(io.TextIOBase):
    def __init__(self, bridge, name):
        super().__init__()
        self._bridge = bridge
        self._name = name
        self._pid = os.getpid()
        self._fd = 1 if name == "stdout" else 2

    @property
    def name(self):
        return "<" + self._name + ">"

    @property
    def encoding(self):
        return "UTF-8"  # as ipykernel's streams spell it

    @property
    def errors(self):
        return "replace"

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        raise io.UnsupportedOperation("kernel streams have no file descriptor")

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if os.getpid() != self._pid:
            # A forked child (multiprocessing) has no kernel threads: the
            # kernel's queues may even be locked forever. Write to the
            # inherited file descriptor instead, as ipykernel does.
            os.write(self._fd, text.encode("utf-8", "replace"))
            return len(text)
        self._bridge.write_stream(self._name, text)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if os.getpid() == self._pid:
            self._bridge.flush()
