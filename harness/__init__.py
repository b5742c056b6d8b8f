"""How the tests and the benches deploy a hub, one package for both.

Every deployment answers the same questions (`Deployment`): where it is, a client for it, its hub's log, its users'
servers, and taking it all down. Four kinds: `compose.Stack` (the repository's docker-compose.yml, with overlays),
`swarm.SwarmStack` (this host's single-node swarm, deployed as docs/swarm.md says), `multi_node.MultiNodeHub` (a
manager and two workers, Docker in Docker) and `stock.StockHub` (a stock JupyterHub, the benches' baseline).
Their passwords are made for each run (`credentials`).
"""

from typing import Protocol

from harness.hub_client import HubClient


class Deployment(Protocol):
    url: str

    def client_for(self) -> HubClient: ...

    def logs(self) -> str: ...

    def user_servers(self, username: str | None = None) -> list: ...

    def down(self) -> None: ...
