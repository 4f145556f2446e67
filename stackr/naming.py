"""Names of the host objects stackr makes: one home for all of them (compose's labels.go).

Every host object carries a recognisable, collision-free name so that ``down`` and a
restart after a crash can always find it, and tests can check that none is left.
Linux interface names hold at most 15 characters, so links use a short prefix and a
hash instead of the project and network names.
"""

from __future__ import annotations

LINK_PREFIX = "stk"  # every bridge/veth stackr makes starts with this
IFNAME_MAX = 15
CGROUP_PARENT = "stackr"  # cgroup directory (in each hierarchy) holding stackr's containers

# Labels stackr puts on every resource it makes (as Compose's com.docker.compose.*).
LABEL_PROJECT = "io.stackr.project"
LABEL_SERVICE = "io.stackr.service"
LABEL_REPLICA = "io.stackr.replica"
LABEL_CONFIG_HASH = "io.stackr.config-hash"
LABEL_NETWORK = "io.stackr.network"
LABEL_VOLUME = "io.stackr.volume"


def short_hash(*parts: str, length: int = 10) -> str:
    import hashlib  # here: the runtime's path imports this module, and hashlib is heavy

    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return digest[:length]


def link_name(kind: str, *parts: str) -> str:
    """A stable interface name: ``stk`` + one kind letter + a hash of what it is for.

    ``kind`` is one letter ("b" bridge, "v" host side of a veth, "c" container side
    before it is renamed), so that names of different kinds never collide.
    """
    if len(kind) != 1:
        raise ValueError(f"link kind must be one letter, not {kind!r}")
    name = LINK_PREFIX + kind + short_hash(*parts, length=IFNAME_MAX - len(LINK_PREFIX) - 1)
    return name


def built_image_name(project_name: str, service_name: str) -> str:
    """The name of the image a service's ``build:`` makes when it has no ``image:``
    (``<project>-<service>``, as docker compose names it)."""
    return f"{project_name}-{service_name}"


def anonymous_volume_key(service_name: str, replica: int, target: str) -> str:
    """The stack key stackr gives an anonymous volume (``volumes: [/app/node_modules]``):
    one per replica and target, stable, so the data survives a recreate as in Compose;
    it becomes the volume ``<project>_<key>``, removed by ``down -v``."""
    return f"{service_name}-{replica}-anon-{short_hash(target, length=12)}"


def is_unicast_mac(text: str) -> bool:
    """An Ethernet address an interface can be given: six hex pairs, the first even
    (an odd one is a multicast address, which the kernel refuses)."""
    parts = text.split(":")
    return (len(parts) == 6
            and all(len(part) == 2 and all(c in "0123456789abcdefABCDEF" for c in part)
                    for part in parts)
            and not int(parts[0], 16) & 1)
