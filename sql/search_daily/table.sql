CREATE TABLE IF NOT EXISTS search_daily (
  date DATE NOT NULL,
  query STRING NOT NULL,              -- LOWER(TRIM(properties.query)); '' when absent
  searches INT64 NOT NULL,
  zero_result_searches INT64 NOT NULL, -- properties.result_count = 0
  avg_results FLOAT64,                -- mean properties.result_count where present
  p50_ms FLOAT64,                     -- approximate median duration_ms
  updated_at TIMESTAMP NOT NULL
);
