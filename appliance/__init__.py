"""JupyterHub Appliance: a containerized JupyterHub configured entirely by environment variables."""

__version__ = "0.1.0"
