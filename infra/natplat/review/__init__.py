"""Review tooling, run beside the program and never imported by it at `pulumi up`: the offline
runner (the program under Pulumi's mocks), the offline plan and its diff, `make validate`, and the
policy pack's per-site configuration."""
