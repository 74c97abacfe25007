"""Pulumi entry point: load the site, build the platform, export its outputs.

Everything else lives in the `natplat` package; this file stays thin on purpose.
"""

import pulumi

from natplat.composition import build_platform
from natplat.spec.stackfile import SiteConfigError, load_site_for_current_stack

try:
    site = load_site_for_current_stack()
except SiteConfigError as error:
    # RunError ends the program with the message alone: ops see one line per
    # problem, naming the stack file and the key, and no Python traceback.
    raise pulumi.RunError(str(error)) from None

for name, value in build_platform(site).items():
    pulumi.export(name, value)
