-- The two databases of the transfer example. run.sh creates them under the names it is given
-- (db_bank1 and db_bank2 by default). dq's tables come from `dq-gateway migrate` (gateway.toml
-- lists both databases under [outbox]): dq_outbox in bank1, where the debit writes the
-- message, and dq_inbox in bank2, where the credit claims it.

-- db_bank1
CREATE TABLE IF NOT EXISTS account (
  id      VARCHAR(64) PRIMARY KEY,
  balance DECIMAL(14,2) NOT NULL
) ENGINE=InnoDB;
-- One row per debit, written in the debit's transaction; its id is the message's message_id.
CREATE TABLE IF NOT EXISTS transfer (
  id           CHAR(36) PRIMARY KEY,
  from_account VARCHAR(64) NOT NULL,
  to_account   VARCHAR(64) NOT NULL,
  amount       DECIMAL(14,2) NOT NULL,
  created_at   TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB;

-- db_bank2
CREATE TABLE IF NOT EXISTS account (
  id      VARCHAR(64) PRIMARY KEY,
  balance DECIMAL(14,2) NOT NULL
) ENGINE=InnoDB;
-- One row per credit applied, written in the credit's transaction. Deliberately no unique key
-- on transfer_id: the inbox claim alone keeps a transfer to one credit, and a second one would
-- show here (soak.sh counts them).
CREATE TABLE IF NOT EXISTS credit (
  id          BIGINT AUTO_INCREMENT PRIMARY KEY,
  transfer_id CHAR(36) NOT NULL,
  to_account  VARCHAR(64) NOT NULL,
  amount      DECIMAL(14,2) NOT NULL,
  credited_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY credit_transfer (transfer_id)
) ENGINE=InnoDB;
