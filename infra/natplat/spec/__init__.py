"""What a site is specified to be: its stack file read once (`stackfile`), validated into a
frozen model (`model`) with its profile's sizing (`profiles`), and the catalog of pinned images,
charts and Kubernetes versions it resolves through its mirror (`catalog`). Nothing here creates a
resource; the catalog imports nothing from the model (the model imports the catalog's versions).
"""
