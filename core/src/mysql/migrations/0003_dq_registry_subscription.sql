-- The subscription registry of record, as dq_registry_topic is the topics'.
CREATE TABLE IF NOT EXISTS dq_registry_subscription (
  name VARCHAR(128) COLLATE utf8mb4_bin NOT NULL,
  entry LONGTEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
