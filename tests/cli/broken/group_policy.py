"""Broken: the group's policy asks for more successes than the group has members."""

from graflow import parallel, task, workflow
from graflow.core.handlers.group_policy import AtLeastNGroupPolicy

REGIONS = ["eu", "us"]


@task
def fetch(region: str) -> str:
    return region


with workflow("group_policy") as wf:
    fetchers = [fetch(task_id=f"fetch_{region}", region=region) for region in REGIONS]
    group = parallel(*fetchers).with_execution(policy=AtLeastNGroupPolicy(3))
