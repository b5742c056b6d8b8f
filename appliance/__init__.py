"""JupyterHub Appliance: a containerized JupyterHub configured entirely by environment variables."""

__version__ = "0.2.0"
