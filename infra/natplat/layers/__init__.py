"""The platform's layers, one ComponentResource per concern, each with its Args built from the
Site: cluster → baseline → signing key → cache → monitoring → gateway → logging → services.
Only the composition root (`natplat.composition`) sees them all and wires their handles."""
