"""Building images from Dockerfiles: parser, context, layer cache, builder.

``dockerfile`` parses; ``ignore`` and ``context`` select and hash build-context files;
``cache`` keys steps; ``diff`` turns an overlay upper dir into a layer tar; ``builder``
runs the stages against a ``BuildBackend``.
"""
