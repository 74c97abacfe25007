"""The national platform's Pulumi program: site model, catalog of pins, and one module per layer.

The package has a distinctive name on purpose: Pulumi puts `infra/` first on `sys.path`, so a
top-level module named like a standard-library one (`site`, `platform`, `logging`) would shadow it.
"""
