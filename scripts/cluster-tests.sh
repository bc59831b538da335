#!/usr/bin/env bash
# The delay queue's and the workers' suites once more, on a private Redis Cluster (3 masters,
# 3 replicas; scripts/redis-cluster.sh), in place of the shared Redis: dq_testkit's Scratch
# takes DQ_TEST_REDIS for REDIS. Left out: the tests that are about several servers of their own
# or that read keys by name on the shared server. Extra arguments go to both test runs.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d "${TMPDIR:-/tmp}/dq-cluster-tests.XXXXXX")
trap 'bash scripts/redis-cluster.sh stop "$dir"' EXIT
DQ_TEST_REDIS=$(bash scripts/redis-cluster.sh start "$dir" 3 1)
export DQ_TEST_REDIS
echo "cluster-tests: the queue and workers suites on $DQ_TEST_REDIS"
cargo test --release --locked -p dq-core --test it -- queue:: "$@" \
  --skip queue::a_shard_that_is_down_fails_only_its_messages \
  --skip queue::a_timed_out_add_may_have_stored_the_message_and_says_so
cargo test --release --locked -p dq-gateway --test it -- workers:: "$@" \
  --skip workers::dead_letters_are_kept_within_count_and_age
