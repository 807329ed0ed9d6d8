-- Rows per partition day of {table} before @cutoff: what a retention run removes.
-- {table} and {day} (the table's partition expression) are filled in from the catalogue
-- (functions/catalogue.py), never from input: BigQuery cannot take identifiers as parameters.
SELECT {day} AS partition_day, COUNT(*) AS row_count
FROM {table}
WHERE {day} < @cutoff
GROUP BY partition_day
ORDER BY partition_day
