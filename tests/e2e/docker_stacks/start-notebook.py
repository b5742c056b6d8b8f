#!/usr/bin/env python3
"""As docker-stacks' start-notebook.py: JupyterLab, or start-singleuser.py when JupyterHub started us."""

import os
import shlex
import sys

if "JUPYTERHUB_API_TOKEN" in os.environ:
    command = ["/usr/local/bin/start-singleuser.py", *sys.argv[1:]]
else:
    command = ["jupyter", "lab", *sys.argv[1:]]
print("Executing:", shlex.join(command), flush=True)
os.execvp(command[0], command)
