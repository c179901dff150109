"""Seed the demo's local IAM (moto) with nine users that show every decision.

Usage: demo_seed.py ENDPOINT CLOCK_FILE
       demo_seed.py ENDPOINT CLOCK_FILE --check-one-active USER...

The second form checks, after the apply, that each USER has exactly one active key and
that it is the one used last (prints one line per user; exits 1 otherwise).

The server runs under libfaketime with FAKETIME_TIMESTAMP_FILE=CLOCK_FILE, so writing
an offset there ("-200d") makes the keys created or used next look that old. Uses
boto3, which moto's own installation brings. Never reaches AWS: every call goes to
ENDPOINT with fake credentials.
"""

import sys
import time
import urllib.request

import boto3
from botocore.config import Config


def client(endpoint, key_id="testing", secret="testing"):
    return boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 2}),
    )


def wait_until_ready(endpoint, seconds=60):
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"demo: the local IAM at {endpoint} did not answer within {seconds} s")
            time.sleep(0.05)


class Seeder:
    def __init__(self, endpoint, clock):
        self.endpoint = endpoint
        self.clock = clock
        self.iam = client(endpoint)

    def days_ago(self, days):
        with open(self.clock, "w") as f:
            f.write(f"-{days}d\n" if days else "+0\n")

    def user(self, name, tags=()):
        self.iam.create_user(
            UserName=name, Tags=[{"Key": k, "Value": v} for k, v in tags]
        )

    def key(self, user, days_ago):
        """A key as if created `days_ago` days ago."""
        self.days_ago(days_ago)
        try:
            return self.iam.create_access_key(UserName=user)["AccessKey"]
        finally:
            self.days_ago(0)

    def use(self, key, days_ago):
        """Sign a call with the key as if `days_ago` days ago: IAM records its last use."""
        self.days_ago(days_ago)
        try:
            client(self.endpoint, key["AccessKeyId"], key["SecretAccessKey"]).list_users()
        finally:
            self.days_ago(0)


def check_one_active(endpoint, users):
    iam = client(endpoint)
    ok = True
    for user in users:
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        active = [k["AccessKeyId"] for k in keys if k["Status"] == "Active"]
        used = {
            k["AccessKeyId"]: iam.get_access_key_last_used(AccessKeyId=k["AccessKeyId"])[
                "AccessKeyLastUsed"
            ].get("LastUsedDate")
            for k in keys
        }
        last = max(used, key=lambda key: (used[key] is not None, used[key] or 0))
        good = active == [last]
        ok = ok and good
        print(f"  {user}: {len(active)} active key(s) {active}, the one used last is {last}")
    return ok


def main():
    endpoint, clock = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3 and sys.argv[3] == "--check-one-active":
        sys.exit(0 if check_one_active(endpoint, sys.argv[4:]) else 1)
    wait_until_ready(endpoint)
    seed = Seeder(endpoint, clock)
    for name in ["alice", "carol", "dave", "frank", "hank", "ivan", "nokey", "rita"]:
        seed.user(name)
    seed.user("erin", tags=[("keytrim:exempt", "break-glass account")])

    seed.key("carol", 400)
    seed.key("dave", 300)
    dave_new = seed.key("dave", 20)
    seed.iam.update_access_key(
        UserName="dave", AccessKeyId=dave_new["AccessKeyId"], Status="Inactive"
    )
    alice_old = seed.key("alice", 200)
    seed.use(alice_old, 30)
    alice_new = seed.key("alice", 10)
    seed.use(alice_new, 1)
    hank_old = seed.key("hank", 150)
    seed.use(hank_old, 2)
    seed.key("hank", 5)
    rita_monthly = seed.key("rita", 120)
    seed.use(rita_monthly, 30)
    rita_daily = seed.key("rita", 100)
    seed.use(rita_daily, 1)
    frank_idle = seed.key("frank", 400)
    seed.use(frank_idle, 300)
    frank_used = seed.key("frank", 200)
    seed.use(frank_used, 2)
    ivan_idle = seed.key("ivan", 100)
    seed.use(ivan_idle, 50)
    ivan_used = seed.key("ivan", 95)
    seed.use(ivan_used, 20)
    seed.key("erin", 400)
    seed.key("erin", 3)

    print("Seeded nine users:")
    print("  carol, dave, nokey: compliant (one active key or none)")
    print("  alice: keys 200 and 10 days old             -> deactivate the old one")
    print("  hank:  old key used 2 days ago              -> hold for review")
    print("  frank: keys 400 and 200 days old, the older idle 300 days")
    print("                                              -> keep the one in use, deactivate the idle one,")
    print("                                                 rotate the kept one")
    print("  ivan:  keys 100 and 95 days old, the older idle 50 days -> the same")
    print("  rita:  keys 120 and 100 days old, the older used 30 days ago (a monthly job)")
    print("                                              -> hold for review, rotate the kept one")
    print("  erin:  tagged keytrim:exempt                -> exempt")


if __name__ == "__main__":
    main()
