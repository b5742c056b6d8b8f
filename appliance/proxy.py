"""The proxy as the appliance runs it: configurable-http-proxy under supervisord, watched by the hub.

supervisord restarts a proxy that dies, but the new process starts with an empty routing table.
The hub watches for that (the hub's own route is missing) and puts every route back.
"""

from jupyterhub.proxy import ConfigurableHTTPProxy
from tornado.ioloop import PeriodicCallback
from traitlets import Float


class SupervisedProxy(ConfigurableHTTPProxy):
    """configurable-http-proxy started by supervisord; `start()` only begins watching its routes.

    JupyterHub calls `start()` when `should_start` is true, so that is where the watch begins;
    the process itself belongs to supervisord and outlives hub restarts.
    """

    route_check_interval = Float(
        1.0,
        config=True,
        help="Seconds between checks that the proxy still has the hub's route; a restarted proxy has none.",
    )

    async def start(self):
        self._route_watch = PeriodicCallback(self.restore_routes_if_lost, 1000 * self.route_check_interval)
        self._route_watch.start()

    async def stop(self):
        self._route_watch.stop()

    async def restore_routes_if_lost(self) -> None:
        try:
            routes = await self.get_all_routes()
        except Exception as error:  # the proxy is down or restarting; supervisord brings it back
            self.log.debug("The proxy did not answer (%s); checking again shortly", error)
            return
        if self.app.hub.routespec in routes:
            return
        self.log.warning("The proxy has lost its routes (it restarted); restoring %d user route(s)", self.ready_count())
        await self.check_routes(self.app.users, self.app._service_map, routes)
        self.log.info("Routes restored")

    def ready_count(self) -> int:
        return sum(spawner.ready for user in self.app.users.values() for spawner in user.spawners.values())
