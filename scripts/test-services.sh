#!/usr/bin/env bash
# Makes sure what the tests talk to is running: PostgreSQL on 127.0.0.1:5432 and a real S3
# (Ceph RADOS Gateway, single node, in memory) on 127.0.0.1:7480. Idempotent; safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

if [ "${TEST_S3_ENDPOINT:-}" != "" ] && [ "${TEST_S3_ENDPOINT}" != "http://127.0.0.1:7480" ]; then
  exit 0 # an S3 of the caller's choosing
fi
if curl -s -o /dev/null --max-time 3 http://127.0.0.1:7480/; then
  exit 0
fi
if ! command -v radosgw >/dev/null 2>&1; then
  echo "installing Ceph RADOS Gateway (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd >/dev/null
fi
echo "starting Ceph RADOS Gateway on 127.0.0.1:7480"
mkdir -p .tmp
C=/tmp/ceph-rgw bash scripts/ceph-rgw.sh > .tmp/ceph-rgw.log 2>&1 || { tail -20 .tmp/ceph-rgw.log; exit 1; }
# The first requests after start are slow; wait until S3 answers.
for _ in $(seq 1 30); do curl -s -o /dev/null --max-time 5 http://127.0.0.1:7480/ && break; sleep 1; done
echo "Ceph RADOS Gateway is up"
