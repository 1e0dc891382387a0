"""EC2 API tests: unmodified boto3 and awscli against pytest-django's live server.

`ec2_for(user)` makes an access key through the service (as the portal page does) and returns a boto3
EC2 client signed with it. Tests marked `celery` have a real worker on Redis moving the pipeline.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from provisioning.services.access_keys import access_key_create

REGION = "us-east-1"
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60)


def client_for(url: str, key_id: str, secret: str, *, region: str = REGION, config: Config = NO_RETRY):
    return boto3.client("ec2", endpoint_url=f"{url}/ec2/", region_name=region, aws_access_key_id=key_id,
                        aws_secret_access_key=secret, config=config)


@pytest.fixture
def ec2_for(live_server):
    def make(user, **key_options):
        created = access_key_create(user=user, **key_options)
        client = client_for(live_server.url, created.access_key.access_key_id, created.secret_access_key)
        client.skyport_key = created
        return client
    return make


@pytest.fixture
def ec2(ec2_for, user):
    return ec2_for(user)


@pytest.fixture
def aws(live_server, user, tmp_path):
    """Run the awscli (`python -m awscli`) against the live server with a fresh access key."""
    created = access_key_create(user=user)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": created.access_key.access_key_id,
           "AWS_SECRET_ACCESS_KEY": created.secret_access_key, "AWS_DEFAULT_REGION": REGION,
           "AWS_CONFIG_FILE": str(tmp_path / "aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"),
           "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": ""}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "awscli", "--endpoint-url", f"{live_server.url}/ec2/", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=Path(tmp_path))
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc
    return run
