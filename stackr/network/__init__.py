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
* ``ipam``, ``netns``, ``netlink``, ``records``: the parts underneath

Nothing is imported here, so ``import stackr.network.ipam`` stays cheap (pyroute2 is
loaded only when a netlink handle is opened).
"""
