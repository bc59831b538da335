-- The topic registry of record (the gateway's `mysql` set): one row per topic, its definition
-- as the gateways publish it into Redis (JSON), or the tombstone of a removed one; `updated_at`
-- (unix ms) decides between writers: the newest definition wins. Not `dq_topic`: that is
-- php-delayqueue's table, often in a database named `dq` too (dq-gateway import-delayqueue).
CREATE TABLE IF NOT EXISTS dq_registry_topic (
  name VARCHAR(128) COLLATE utf8mb4_bin NOT NULL,
  entry LONGTEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
