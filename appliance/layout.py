"""Fixed ports, names and paths inside the hub container and the user containers."""

PUBLIC_PORT_INSIDE = 8000
PROXY_API_URL = "http://127.0.0.1:8001"
HUB_PORT_INSIDE = 8081
HUB_SERVICE_NAME = "hub"
NOTEBOOK_DIR = "/home/jovyan/work"
