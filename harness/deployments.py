"""The four kinds of deployment, checked by the type checker against `harness.Deployment`."""

from harness import Deployment
from harness.compose import Stack
from harness.multi_node import MultiNodeHub
from harness.stock import StockHub
from harness.swarm import SwarmStack

KINDS: tuple[type[Deployment], ...] = (Stack, SwarmStack, MultiNodeHub, StockHub)
