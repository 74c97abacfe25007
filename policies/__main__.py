"""Entry point of the policy pack: builds it from the rules module and nothing else."""

from pulumi_policy import EnforcementLevel, PolicyPack

from platform_policies import POLICIES

PolicyPack(
    name="national-platform",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
