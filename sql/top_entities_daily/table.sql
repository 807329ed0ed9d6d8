CREATE TABLE IF NOT EXISTS top_entities_daily (
  date DATE NOT NULL,
  dimension STRING NOT NULL,          -- the property name: provider_id, product_id or course_id
  entity STRING NOT NULL,             -- the property's value
  events INT64 NOT NULL,              -- events naming the entity
  revenue FLOAT64 NOT NULL,           -- their payments minus refunds, reporting currency only
  ratings INT64 NOT NULL,             -- review events with a properties.rating
  avg_rating FLOAT64,                 -- mean of those ratings; NULL without
  updated_at TIMESTAMP NOT NULL
);
