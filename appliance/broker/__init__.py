"""The Docker broker: a container of its own that alone holds the Docker socket, and lets through only what the
appliance's own work needs (appliance.broker.policy). The hub and its services reach Docker through it
(appliance.docker_host)."""
