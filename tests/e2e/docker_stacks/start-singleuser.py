#!/usr/bin/env python3
"""As docker-stacks' start-singleuser.py: the single-user server, with JupyterHub's arguments."""

import os
import shlex
import sys

command = ["jupyterhub-singleuser", *sys.argv[1:]]
print("Executing:", shlex.join(command), flush=True)
os.execvp(command[0], command)
