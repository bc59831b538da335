-- The two databases of the order/finance example. run.sh creates them under the names it is
-- given (db_order and db_finance by default); dq's own database (dq.mysql, default `dq`) needs
-- nothing: dq creates its decision log table there itself.

-- db_order
CREATE TABLE IF NOT EXISTS t_user_orders (
  id         BIGINT AUTO_INCREMENT PRIMARY KEY,
  username   VARCHAR(64) NOT NULL,
  money      DECIMAL(12,2) NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB;

-- db_finance
CREATE TABLE IF NOT EXISTS t_user_account (
  username VARCHAR(64) PRIMARY KEY,
  money    DECIMAL(12,2) NOT NULL
) ENGINE=InnoDB;
