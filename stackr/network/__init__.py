"""Stack networks through netlink (pyroute2): bridges, veths, netns, IPAM, DNS, ports.

The engine's API, one module each (see their docstrings for the design choices):

* ``bridge``:   ``ensure_network(NetworkSpec) -> NetworkState``, ``remove_network(id)``,
  ``load_network``, ``list_networks``
* ``attach``:   ``create_sandbox(container_id) -> Path`` (netns file),
  ``attach(container_id, sandbox, network, ipv4_address=, names=, owner=) -> Attachment``,
  ``detach(container_id, network_id)``, ``remove_sandbox(container_id)``, ``list_attachments``
* ``ports``:    ``check_ports_available(ports)``,
  ``publish(container_id, ports, container_ip) -> list[PublishedPort]``,
  ``unpublish(container_id)``, ``list_published``, ``restore_reservations``
* ``dns``:      ``Resolver()`` with ``serve_network``/``stop_network``,
  ``register``/``unregister``, ``close``
* ``etcfiles``: ``render_resolv_conf``, ``render_hosts`` for the runtime to mount
* ``firewall``: ``sync()`` (nftables table from records), ``is_available()``
* ``recovery``: ``restore(resolver)`` on engine start (networks, names, ports, rules)
* ``ipam``, ``netns``, ``netlink``, ``records``: the parts underneath

Call order for one container (all before its process starts, in the engine):
``check_ports_available`` → ``create_sandbox`` → ``attach`` per network (first
non-internal one gets the default route) → ``Resolver.register`` per attachment →
``publish``; teardown: ``unpublish`` → ``Resolver.unregister`` → ``remove_sandbox``.
One container's attaches run one after the other (interface names eth0, eth1, ... are
given in attach order); different containers may be wired in parallel threads.

Nothing is imported here, so ``import stackr.network.ipam`` stays cheap (pyroute2 is
loaded only when a netlink handle is opened).
"""
