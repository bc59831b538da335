-- The XA decision log: one row per global transaction that reached a decision. The primary key
-- makes the decision unique: the committer and a recoverer that gave up on it cannot both win.
-- The id is utf8mb4 like the connection: an id column in another character set would turn
-- `WHERE id IN (?, ...)` into a locking scan of the whole table (concurrent commits deadlock).
CREATE TABLE IF NOT EXISTS dq_xa (
  id VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
  decision VARCHAR(8) NOT NULL,
  branches TEXT NOT NULL,
  decided_by VARCHAR(255) NOT NULL,
  decided_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY dq_xa_decided_at (decided_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
