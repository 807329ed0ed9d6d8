-- Insights: one event type's measure per time bucket and breakdown value, over raw events of
-- [@start_date, @end_date] (UTC days), de-duplicated on event_id. Every field is chosen by a
-- parameter (validated by functions/query/insights.py against fixed names), never spliced in:
--   @bucket       hour | day | week (ISO weeks, starting Monday)
--   @measure      events | users | sum | avg | p50 | p95
--   @field        revenue | duration_ms: the value sum/avg/p50/p95 read; revenue counts in
--                 @currency only (money in other currencies cannot be added up)
--   @breakdown    '' (none) or a dimension of `dims` below; @breakdown_path the JSONPath of a
--                 property when @breakdown = 'property'
--   @filter_*     the values each dimension must take (an empty array: no filter on it); values
--                 of one field are alternatives, fields combine with AND. @filter_path_N names the
--                 property that @filter_property_N filters.
--   @limit        breakdown values kept, by the measure's total (events for avg and quantiles);
--                 the rest become one series
-- Rows: one per (bucket, key) with `value`, and one per key with bucket NULL holding the total
-- over the whole range (distinct users and quantiles cannot be added up from the buckets).
-- `series_rank` orders the series; keys past @limit come back as one: is_other, key NULL.
WITH deduped AS (
  SELECT
    CASE @bucket
      WHEN 'hour' THEN TIMESTAMP_TRUNC(`timestamp`, HOUR)
      WHEN 'day' THEN TIMESTAMP_TRUNC(`timestamp`, DAY)
      ELSE TIMESTAMP_TRUNC(`timestamp`, ISOWEEK)
    END AS bucket,
    {{ user_key }} AS user_key,
    CASE @field
      WHEN 'revenue' THEN IF(currency = @currency, revenue, NULL)
      ELSE duration_ms
    END AS value,
    platform,
    source,
    event_type,
    app_version,
    os,
    locale,
    JSON_VALUE(properties, @breakdown_path) AS breakdown_property,
    JSON_VALUE(properties, @filter_path_1) AS filter_property_1,
    JSON_VALUE(properties, @filter_path_2) AS filter_property_2,
    JSON_VALUE(properties, @filter_path_3) AS filter_property_3
  FROM events
  WHERE DATE(`timestamp`) BETWEEN @start_date AND @end_date
    AND event_type = @event_type
  {{ first_copy }}
),
chosen AS (
  SELECT
    bucket,
    user_key,
    value,
    CASE @breakdown
      WHEN 'platform' THEN platform
      WHEN 'source' THEN source
      WHEN 'event_type' THEN event_type
      WHEN 'context.app_version' THEN app_version
      WHEN 'context.os' THEN os
      WHEN 'context.locale' THEN locale
      WHEN 'property' THEN breakdown_property
      ELSE 'all'
    END AS key
  FROM deduped
  WHERE (ARRAY_LENGTH(@filter_platform) = 0 OR platform IN UNNEST(@filter_platform))
    AND (ARRAY_LENGTH(@filter_source) = 0 OR source IN UNNEST(@filter_source))
    AND (ARRAY_LENGTH(@filter_event_type) = 0 OR event_type IN UNNEST(@filter_event_type))
    AND (ARRAY_LENGTH(@filter_app_version) = 0 OR app_version IN UNNEST(@filter_app_version))
    AND (ARRAY_LENGTH(@filter_os) = 0 OR os IN UNNEST(@filter_os))
    AND (ARRAY_LENGTH(@filter_locale) = 0 OR locale IN UNNEST(@filter_locale))
    AND (ARRAY_LENGTH(@filter_property_1) = 0 OR filter_property_1 IN UNNEST(@filter_property_1))
    AND (ARRAY_LENGTH(@filter_property_2) = 0 OR filter_property_2 IN UNNEST(@filter_property_2))
    AND (ARRAY_LENGTH(@filter_property_3) = 0 OR filter_property_3 IN UNNEST(@filter_property_3))
),
key_totals AS (
  SELECT
    key,
    -- A mean or a quantile is no size: those measures keep the values with the most events.
    CASE @measure
      WHEN 'users' THEN COUNT(DISTINCT user_key)
      WHEN 'sum' THEN COALESCE(SUM(value), 0)
      ELSE COUNT(*)
    END AS weight
  FROM chosen
  GROUP BY key
),
ranked AS (
  -- Ties broken by key, so the same question always keeps the same series.
  SELECT key, ROW_NUMBER() OVER (ORDER BY weight DESC, key IS NULL, key) AS series_rank
  FROM key_totals
),
labelled AS (
  SELECT
    chosen.bucket,
    chosen.user_key,
    chosen.value,
    IF(ranked.series_rank <= @limit, chosen.key, NULL) AS key,
    ranked.series_rank > @limit AS is_other,
    LEAST(ranked.series_rank, @limit + 1) AS series_rank
  FROM chosen
  JOIN ranked ON ranked.key IS NOT DISTINCT FROM chosen.key
),
figures AS (
  SELECT
    bucket,
    key,
    is_other,
    series_rank,
    COUNT(*) AS events,
    COUNT(DISTINCT user_key) AS users,
    SUM(value) AS total_value,
    AVG(value) AS mean_value,
    APPROX_QUANTILES(value, 100)[OFFSET(50)] AS p50_value,
    APPROX_QUANTILES(value, 100)[OFFSET(95)] AS p95_value
  FROM labelled
  GROUP BY bucket, key, is_other, series_rank
  UNION ALL
  SELECT
    NULL,
    key,
    is_other,
    series_rank,
    COUNT(*),
    COUNT(DISTINCT user_key),
    SUM(value),
    AVG(value),
    APPROX_QUANTILES(value, 100)[OFFSET(50)],
    APPROX_QUANTILES(value, 100)[OFFSET(95)]
  FROM labelled
  GROUP BY key, is_other, series_rank
)
SELECT
  bucket,
  key,
  is_other,
  series_rank,
  CASE @measure
    WHEN 'events' THEN events
    WHEN 'users' THEN users
    WHEN 'sum' THEN COALESCE(total_value, 0)
    WHEN 'avg' THEN mean_value
    WHEN 'p50' THEN p50_value
    ELSE p95_value
  END AS value
FROM figures
ORDER BY series_rank, bucket
