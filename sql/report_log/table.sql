CREATE TABLE IF NOT EXISTS report_log (
  period STRING NOT NULL,             -- week or day
  period_start DATE NOT NULL,         -- first day of the period reported
  report_id STRING NOT NULL,          -- also the mail's Message-ID
  recipients STRING NOT NULL,         -- comma list the mail went to
  sent BOOL NOT NULL,                 -- the SMTP server accepted the mail
  sent_at TIMESTAMP NOT NULL,
  attempts INT64 NOT NULL             -- SMTP delivery attempts it took
);
