-- dq's tables in an application database (`dq-gateway migrate`, or this text from
-- Dq\Outbox::schema() for teams that migrate by hand). Never run inside a transaction of
-- yours: MySQL commits it implicitly.
--
-- dq_outbox: messages written in the caller's own transaction by Dq\Outbox::publish / add and
-- relayed by the gateway once committed. kind 'publish': target is the exchange, properties
-- the AMQP properties as a JSON object. kind 'add': target is the delay-queue topic, body the
-- message's JSON body, due_at_ms when it falls due (NULL: the topic's default delay).
-- sent_at is set once RabbitMQ confirmed the message (or Redis stored it); a row the broker
-- refused keeps sent_at NULL, counts its attempts and waits for retry_at, with the error.
CREATE TABLE IF NOT EXISTS dq_outbox (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  kind ENUM('publish','add') NOT NULL,
  target VARBINARY(255) NOT NULL,
  routing_key VARBINARY(255) NOT NULL DEFAULT '',
  message_id VARBINARY(255) NOT NULL,
  body LONGBLOB NOT NULL,
  properties MEDIUMBLOB NULL,
  due_at_ms BIGINT NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  sent_at TIMESTAMP(6) NULL DEFAULT NULL,
  attempts INT UNSIGNED NOT NULL DEFAULT 0,
  retry_at TIMESTAMP(6) NULL DEFAULT NULL,
  error VARCHAR(1024) CHARACTER SET utf8mb4 NULL,
  PRIMARY KEY (id),
  KEY dq_outbox_unsent (sent_at, id)
) ENGINE=InnoDB;

-- dq_inbox: one row per (consumer, message id) applied, inserted by Dq\Inbox::claim in the
-- consumer's own transaction; the primary key makes a redelivered message's claim fail.
CREATE TABLE IF NOT EXISTS dq_inbox (
  consumer VARBINARY(255) NOT NULL,
  message_id VARBINARY(255) NOT NULL,
  claimed_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (consumer, message_id),
  KEY dq_inbox_claimed_at (claimed_at)
) ENGINE=InnoDB;
