"""The stackr engine: the daemon that owns containers, volumes, images and networks."""
