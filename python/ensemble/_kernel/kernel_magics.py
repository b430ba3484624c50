"""The magics a kernel needs in place of the terminal's, as ipykernel has them: an editor,
a pager or a terminal lives with the frontend, not in the kernel process.

%edit names the file for the frontend to open (an ``edit_magic`` payload) instead of
starting an editor the kernel would wait on; %less, %more and %man page through the
frontend; %connect_info and %qtconsole help a second frontend attach; %autosave and
%clear are there for code and habits written for ipykernel.
"""

import json
import os
import shutil
import subprocess

from IPython.core import page
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magics.code import CodeMagics, MacroToEdit
from IPython.utils import openpy
from IPython.utils.process import arg_split


@magics_class
class KernelMagics(Magics):
    @property
    def connection_file(self):
        """The kernel's connection file ("" when it has none, as on an engine)."""
        return self.shell.runtime.connection_file

    @line_magic
    def edit(self, parameter_s="", last_call=None):
        """Open a file, an object's source or earlier input in the frontend's editor.

        The arguments are %edit's in IPython (-n LINE, -p, -r; input ranges, names,
        files). The frontend is told which file and line (an ``edit_magic`` payload);
        the kernel does not wait for the editor, so the file is not run afterwards."""
        options, args = self.parse_options(parameter_s, "prn:")
        try:
            filename, line_number, _ = CodeMagics._find_edit_target(self.shell, args, options,
                                                                     last_call or ["", ""])
        except MacroToEdit:
            print("A macro cannot be edited from a frontend; print it and edit the text.")
            return
        self.shell.payload_manager.write_payload({
            "source": "edit_magic", "filename": os.path.abspath(filename), "line_number": line_number})

    ed = line_magic("ed")(edit)

    @line_magic
    def clear(self, arg_s):
        """Clear the terminal of a terminal frontend."""
        self.shell.system("clear")

    @line_magic
    def less(self, arg_s):
        """Show a file through the frontend's pager (Python files highlighted)."""
        if not arg_s:
            raise UsageError("Missing filename.")
        if arg_s.endswith(".py"):
            text = self.shell.pycolorize(openpy.read_py_file(arg_s, skip_encoding_cookie=False))
        else:
            with open(arg_s) as f:
                text = f.read()
        page.page(text)

    more = line_magic("more")(less)

    @line_magic
    def man(self, arg_s):
        """Show a command's manual page through the frontend's pager."""
        page.page(self.shell.getoutput("man %s | col -b" % arg_s, split=False))

    @line_magic
    def connect_info(self, arg_s):
        """How another frontend attaches to this kernel (its connection file)."""
        path = self.connection_file
        if not path or not os.path.exists(path):
            print("This kernel has no connection file to share.")
            return
        with open(path) as f:
            info = json.load(f)
        if any(key.startswith("curve_") for key in info):
            # Output reaches every collaborator: the kernel's own keys stay in the file.
            print("This kernel is encrypted; its connection file (%s) holds its secret key.\n"
                  "Give another user access with `ensemble invite`, or attach yourself with:\n"
                  "    $> ensemble console --existing %s" % (path, path))
            return
        print(json.dumps(info, indent=2) + "\n")
        print("Save the JSON above in a file and attach to this kernel with:\n"
              "    $> jupyter console --existing <file>\n"
              "From this machine, the kernel's own file will do:\n"
              "    $> jupyter console --existing %s\n"
              "    $> ensemble console --existing %s" % (path, path))

    @line_magic
    def qtconsole(self, arg_s):
        """Open a Qt console attached to this kernel (needs jupyter-qtconsole)."""
        path = self.connection_file
        command = shutil.which("jupyter-qtconsole")
        if command is None or not path:
            print("Could not start a Qt console: %s." % (
                "jupyter-qtconsole is not installed" if command is None else "this kernel has no connection file"))
            return
        # a session of its own, so that interrupting the kernel does not reach it
        subprocess.Popen([command, "--existing", path] + arg_split(arg_s), start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @line_magic
    def autosave(self, arg_s):
        """Set the classic notebook's autosave interval, in seconds (0 turns it off)."""
        try:
            interval = int(arg_s)
        except ValueError:
            raise UsageError("%%autosave requires an integer, got %r" % arg_s) from None
        from IPython.display import Javascript, display

        display(Javascript("IPython.notebook.set_autosave_interval(%d)" % (1000 * interval)),
                include=["application/javascript"])
        print("Autosaving every %d seconds" % interval if interval else "Autosave disabled")

