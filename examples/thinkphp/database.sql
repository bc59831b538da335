-- db_a (the payer's database)
CREATE TABLE account (
  id            VARCHAR(64) PRIMARY KEY,
  balance_cents BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB;
CREATE TABLE transfer (
  id            VARCHAR(64) PRIMARY KEY,                 -- chosen by the client: retries are safe
  from_account  VARCHAR(64) NOT NULL,
  to_account    VARCHAR(64) NOT NULL,
  amount_cents  BIGINT NOT NULL,
  state         ENUM('pending','done','failed') NOT NULL,
  detail        VARCHAR(255) NOT NULL DEFAULT '',
  updated_at    DATETIME NOT NULL,
  KEY pending (state, updated_at)
) ENGINE=InnoDB;

-- db_b (the payee's database, owned by the credit service)
CREATE TABLE account (
  id            VARCHAR(64) PRIMARY KEY,
  balance_cents BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB;
CREATE TABLE credit_request (                            -- the idempotency keys: one outcome per transfer
  transfer_id   VARCHAR(64) PRIMARY KEY,
  outcome       VARCHAR(512) NOT NULL,
  created_at    DATETIME NOT NULL
) ENGINE=InnoDB;
