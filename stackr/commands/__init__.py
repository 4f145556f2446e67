"""One module per CLI verb: ``configure(parser)`` adds its options, ``run(args)`` runs it.

Heavy imports belong inside ``run`` so that ``stackr --help`` stays fast.
"""
