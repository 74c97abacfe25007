"""The national platform's Pulumi program, grouped so the tree tells the data flow:

- `spec/`: the site: stack file → frozen model, profiles, catalog of pins;
- `composition.py`: the composition root, the one place that sees the whole site;
- `layers/`: one ComponentResource per concern, in dependency order;
- `blocks/`: what the layers share (labels, NetworkPolicy pieces, charts, images, workloads);
- `observability/`: alert rules, dashboards and the metric catalogue, as data;
- `review/`: offline tooling (mock runner, plan, validate, policy configuration), never imported
  by the program at `pulumi up`.

The package has a distinctive name on purpose: Pulumi puts `infra/` first on `sys.path`, so a
top-level module named like a standard-library one (`site`, `platform`, `logging`) would shadow it.
"""
